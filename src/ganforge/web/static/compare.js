// The Compare view: several runs' curves on one axis, their numbers in one table, the same seeds' samples.
// Histories are fetched once per Compare (a page keeps one event stream, for the current run).
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  let compared = []; // [{run, history, metrics}]
  const CURVES = [["loss_g", "G loss"], ["loss_d", "D loss"], ["d_real", "D(x)"], ["d_fake", "D(G(z))"],
    ["images_per_sec", "images/s"]];
  const num = (v) => (typeof v === "number" ? +v.toPrecision(4) : v == null ? "" : String(v));

  function listRuns() {
    const checked = new Set([...document.querySelectorAll("#compare-runs input:checked")].map((i) => i.value));
    const boxes = Studio.runs().map((r) => {
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.value = r.id;
      box.checked = checked.has(r.id);
      label.append(box, ` ${r.name}`);
      return label;
    });
    $("compare-runs").replaceChildren(...boxes);
  }

  async function getJson(url) {
    const response = await fetch(url);
    return response.ok ? response.json() : null;
  }

  async function compare() {
    const ids = [...document.querySelectorAll("#compare-runs input:checked")].map((i) => i.value);
    const runs = Studio.runs().filter((r) => ids.includes(r.id));
    document.body.dataset.compared = "";
    compared = await Promise.all(runs.map(async (run) => ({
      run,
      history: run.has_log ? await getJson(`/api/runs/${encodeURIComponent(run.id)}/history`) : null,
      metrics: await getJson(`/api/runs/${encodeURIComponent(run.id)}/metrics`),
    })));
    drawCurves();
    drawTable();
    await drawSamples();
    document.body.dataset.compared = compared.map((c) => c.run.id).join(",");
  }

  function drawCurves() {
    const x = $("compare-x").value;
    const charts = [];
    const evalKeys = new Set();
    for (const c of compared) {
      for (const r of (c.history ? c.history.records : [])) {
        if ("metric" in r) for (const k of Object.keys(r)) if (!["step", "time", "metric"].includes(k)) evalKeys.add(k);
      }
    }
    const quantities = [...CURVES, ...[...evalKeys].map((k) => [k, k])];
    for (const [key, title] of quantities) {
      const series = compared.filter((c) => c.history).map((c, i) => ({
        label: c.run.name, color: Chart.COLORS[i % Chart.COLORS.length],
        points: c.history.records.filter((r) => key in r && x in r).map((r) => [r[x], r[key]]),
      }));
      if (!series.some((s) => s.points.length)) continue;
      const div = document.createElement("div");
      div.className = "chart";
      div.dataset.key = key;
      Chart.draw(div, title, series, x === "time" ? "time (s)" : "step");
      charts.push(div);
    }
    $("compare-charts").replaceChildren(...charts);
  }

  function drawTable() {
    const rows = compared.map((c) => {
      const records = c.history ? c.history.records : [];
      const train = records.filter((r) => "loss_g" in r);
      const last = train[train.length - 1] || {};
      const evals = {};
      for (const r of records.filter((r) => "metric" in r)) {
        for (const [k, v] of Object.entries(r)) if (!["step", "time", "metric"].includes(k)) evals[k] = v;
      }
      const measured = (c.metrics && c.metrics.measured) || {};
      return { run: c.run.name, preset: c.run.preset, dataset: c.run.dataset,
        state: c.run.status ? c.run.status.state : "", step: last.step ?? c.run.step ?? "",
        "images/s": last.images_per_sec, "G loss": last.loss_g, "D loss": last.loss_d, ...evals, ...measured };
    });
    const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
    const head = document.createElement("tr");
    for (const col of columns) {
      const th = document.createElement("th");
      th.textContent = col;
      head.appendChild(th);
    }
    const body = rows.map((r) => {
      const tr = document.createElement("tr");
      for (const col of columns) {
        const td = document.createElement("td");
        td.textContent = num(r[col]);
        tr.appendChild(td);
      }
      return tr;
    });
    $("compare-table").replaceChildren(head, ...body);
  }

  async function drawSamples() {
    const seed = $("compare-seed").value.trim() || "0";
    const n = $("compare-count").value;
    const figures = compared.filter((c) => c.run.has_generator).map((c) => {
      const figure = document.createElement("figure");
      figure.className = "tile wide";
      const img = document.createElement("img");
      img.src = `/api/runs/${encodeURIComponent(c.run.id)}/samples.png?seed=${encodeURIComponent(seed)}&n=${n}`;
      img.alt = `${c.run.name}, seed ${seed}`;
      img.dataset.run = c.run.id;
      const caption = document.createElement("figcaption");
      caption.textContent = `${c.run.name}, seed ${seed}`;
      figure.append(img, caption);
      return figure;
    });
    $("compare-samples").replaceChildren(...figures);
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("compare-go").addEventListener("click", compare);
    $("compare-x").addEventListener("change", drawCurves);
    $("compare-samples-form").addEventListener("submit", (e) => { e.preventDefault(); drawSamples(); });
  });

  Studio.views.compare = { shown: listRuns, runsChanged: listRuns };
})();
