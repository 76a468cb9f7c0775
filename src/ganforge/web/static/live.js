// The Training view: the current run's events from the server (EventSource), drawn as they arrive.
// One stream per page, following the selected run; the browser reconnects by itself with Last-Event-ID.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  let source = null;
  let run = null;
  let records = [];
  let grids = [];
  let status = {};
  let events = 0;
  let pinned = false; // the scrubber was moved off the newest grid: new grids do not take it back
  let frame = 0;
  let note = ""; // what the view says when there is nothing to watch
  let said = null; // the answer to the last Stop or Resume, shown until the run's state changes

  const train = () => records.filter((r) => "loss_g" in r);
  const evals = () => records.filter((r) => "metric" in r);
  const series = (rows, key) => rows.filter((r) => key in r).map((r) => [r.step, r[key]]);

  function fmtTime(s) {
    if (!Number.isFinite(s)) return "";
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.round(s % 60);
    return h ? `${h} h ${m} min` : m ? `${m} min ${sec} s` : `${sec} s`;
  }

  function drawCharts() {
    const t = train();
    Chart.draw($("chart-loss"), "loss", [{ label: "G", points: series(t, "loss_g") },
      { label: "D", points: series(t, "loss_d") }], "step");
    Chart.draw($("chart-d"), "D's outputs", [{ label: "D(x)", points: series(t, "d_real") },
      { label: "D(G(z))", points: series(t, "d_fake") }], "step");
    Chart.draw($("chart-speed"), "images/s", [{ label: "images/s", points: series(t, "images_per_sec") }], "step");
    const ev = evals();
    const keys = [...new Set(ev.flatMap((r) => Object.keys(r).filter((k) => !["step", "time", "metric"].includes(k)
      && typeof r[k] === "number")))];
    const boxes = keys.map((key) => {
      const div = document.createElement("div");
      div.className = "chart";
      div.id = `chart-eval-${key}`;
      Chart.draw(div, `${ev.find((r) => key in r).metric}: ${key}`, [{ label: key, points: series(ev, key) }], "step");
      return div;
    });
    $("chart-evals").replaceChildren(...boxes);
  }

  function drawStats() {
    const t = train();
    const last = t[t.length - 1];
    const total = status.steps;
    const step = last ? last.step : 0;
    const rows = [];
    if (last) {
      rows.push(["step", total ? `${step.toLocaleString()} of ${total.toLocaleString()}` : step.toLocaleString()]);
      rows.push(["images/s", last.images_per_sec != null ? last.images_per_sec.toLocaleString() : ""]);
      rows.push(["images seen", (last.images || 0).toLocaleString()]);
      rows.push(["training time", fmtTime(last.time)]);
      if (total && step < total && last.time && step && status.state === "training") {
        rows.push(["time left (at this rate)", fmtTime(((total - step) * last.time) / step)]);
      }
      rows.push(["G loss / D loss", `${last.loss_g.toFixed(4)} / ${last.loss_d.toFixed(4)}`]);
      rows.push(["D(x) / D(G(z))", `${last.d_real.toFixed(3)} / ${last.d_fake.toFixed(3)}`]);
    }
    for (const r of evals().slice(-1)) {
      for (const [k, v] of Object.entries(r)) {
        if (!["step", "time", "metric"].includes(k) && typeof v === "number") rows.push([`${r.metric}: ${k}`, v.toPrecision(4)]);
      }
    }
    $("live-stats").replaceChildren(...rows.map(([k, v]) => {
      const tr = document.createElement("tr");
      const th = document.createElement("th");
      const td = document.createElement("td");
      th.textContent = k;
      td.textContent = v;
      tr.append(th, td);
      return tr;
    }));
    $("live-progress").textContent = last ? `step ${step.toLocaleString()}${total ? " of " + total.toLocaleString() : ""}` : "";
    document.body.dataset.liveStep = String(step);
  }

  function showGrid(index) {
    const g = grids[index];
    const img = $("live-grid");
    if (!g) {
      img.hidden = true;
      $("live-grid-caption").textContent = "no grid yet";
      return;
    }
    // the step and caption change once the new picture has loaded, so they always describe what is on screen
    const shown = () => {
      img.dataset.step = String(g.step);
      $("live-grid-caption").textContent = `step ${g.step.toLocaleString()} (fixed noise)`;
    };
    img.hidden = false;
    if (img.getAttribute("src") === g.url && img.complete && img.naturalWidth > 0) {
      shown();
    } else {
      img.onload = shown;
      img.src = g.url;
    }
  }

  function drawGrids() {
    const scrub = $("grid-scrub");
    scrub.max = String(Math.max(0, grids.length - 1));
    scrub.hidden = grids.length < 2;
    if (!pinned) scrub.value = scrub.max;
    showGrid(Number(scrub.value));
  }

  function drawStatus() {
    const state = status.state || "";
    $("live-state").textContent = state;
    $("live-state").dataset.state = state;
    document.body.dataset.liveState = state;
    Studio.showState(status);
    const tr = Studio.training();
    $("stop-run").disabled = !(status.ours && state === "training");
    $("resume-run").disabled = !(tr.enabled && status.has_checkpoint && ["stopped", "finished", "failed"].includes(state));
    const last = train().slice(-1)[0];
    const resume = $("resume-steps");
    if (!resume.value || Number(resume.value) <= (last ? last.step : 0)) {
      resume.value = String(Math.max(status.steps || 0, last ? last.step : 0) * 2 || "");
    }
    const failed = status.state === "failed" && !(said && said.error);
    $("live-message").textContent = failed ? `failed: ${status.message || "see output.log"}` : said ? said.text : note;
    $("live-message").className = failed || (said && said.error) ? "error" : "muted";
    if (status.has_checkpoint && run) Studio.updateRun(run.id, { has_generator: true });
  }

  // Drawing is batched to one frame: a burst of events (a history) draws once.
  function redraw() {
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      drawCharts();
      drawStats();
      drawGrids();
      drawStatus();
      document.body.dataset.liveEvents = String(events);
    });
  }

  function close() {
    if (source) source.close();
    source = null;
  }

  function open(r) {
    close();
    run = r;
    records = [];
    grids = [];
    status = r ? r.status || {} : {};
    events = 0;
    pinned = false;
    said = null;
    document.body.dataset.liveEvents = "0";
    note = r && !r.has_log ? `${r.name} ships without its training log: nothing to watch` : "";
    if (!r || !r.has_log) {
      redraw();
      return;
    }
    source = new EventSource(`/api/runs/${encodeURIComponent(r.id)}/events`);
    const on = (kind, handle) => source.addEventListener(kind, (e) => {
      if (run !== r) return; // an event of the run shown before
      events += 1;
      handle(JSON.parse(e.data));
      redraw();
    });
    on("history", (d) => { records = d.records; grids = d.grids; status = d.status; });
    on("log", (d) => records.push(d));
    on("eval", (d) => records.push(d));
    on("grid", (d) => {
      grids = grids.filter((g) => g.step !== d.step).concat([d]).sort((a, b) => a.step - b.step);
    });
    on("status", (d) => {
      const before = status.state;
      if (before !== d.state) said = null;
      status = d;
      if (before && before !== d.state) Studio.refreshRuns();
    });
    redraw();
  }

  async function post(url, body) {
    const response = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" },
      body: body ? JSON.stringify(body) : undefined });
    let detail = "";
    try { detail = (await response.json()).detail || ""; } catch (e) { /* no JSON */ }
    return { ok: response.ok, detail: detail || `HTTP ${response.status}` };
  }

  async function stop() {
    $("stop-run").disabled = true;
    const answer = await post(`/api/runs/${encodeURIComponent(run.id)}/stop`);
    said = { text: answer.ok ? "stopping: the run finishes its step and checkpoints" : answer.detail, error: !answer.ok };
    drawStatus();
  }

  async function resume() {
    $("resume-run").disabled = true;
    const steps = Number($("resume-steps").value);
    const answer = await post(`/api/runs/${encodeURIComponent(run.id)}/resume`, { steps });
    said = { text: answer.ok ? `resuming to ${steps.toLocaleString()} steps` : answer.detail, error: !answer.ok };
    drawStatus();
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("stop-run").addEventListener("click", stop);
    $("resume-run").addEventListener("click", resume);
    $("grid-scrub").addEventListener("input", () => {
      pinned = Number($("grid-scrub").value) !== grids.length - 1;
      showGrid(Number($("grid-scrub").value));
    });
  });

  Studio.views.training = {
    runChanged: (r) => { if (!run || !r || r.id !== run.id) open(r); },
    shown: () => redraw(),
  };
})();
