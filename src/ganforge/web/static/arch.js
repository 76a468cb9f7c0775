// The Architecture view: G and D layer by layer (output shapes, parameters) and the run's config.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  let ticket = 0;

  function cell(tag, text) {
    const node = document.createElement(tag);
    node.textContent = text == null ? "" : Array.isArray(text) ? text.join(" x ") : typeof text === "number"
      ? text.toLocaleString() : typeof text === "object" ? JSON.stringify(text) : String(text);
    return node;
  }

  function table(rows, columns) {
    const t = document.createElement("table");
    t.className = "stats layers";
    const head = document.createElement("tr");
    for (const c of columns) head.appendChild(cell("th", c));
    t.appendChild(head);
    for (const r of rows) {
      const tr = document.createElement("tr");
      for (const c of columns) tr.appendChild(cell("td", r[c]));
      t.appendChild(tr);
    }
    return t;
  }

  // One network's table, as `ganforge presets NAME` prints it: layer (type), output shape, parameters; totals.
  function summary(title, s) {
    const box = document.createElement("div");
    box.className = "summary";
    const h = document.createElement("h2");
    h.textContent = title;
    box.appendChild(h);
    box.appendChild(table(s.rows, ["Layer (type)", "Output Shape", "Param #"]));
    const totals = document.createElement("ul");
    for (const line of s.totals) totals.appendChild(cell("li", line));
    box.appendChild(totals);
    return box;
  }

  async function show(run) {
    if (!run) return;
    const mine = ++ticket;
    const response = await fetch(`/api/runs/${encodeURIComponent(run.id)}/architecture`);
    const body = await response.json();
    if (mine !== ticket) return;
    const parts = [];
    if (body.generator) parts.push(summary("Generator", body.generator));
    if (body.discriminator) parts.push(summary("Discriminator", body.discriminator));
    if (body.note) parts.push(cell("p", body.note));
    if (!response.ok) parts.push(cell("p", body.detail));
    $("arch-tables").replaceChildren(...parts);
    const config = Object.entries(body.config || {}).map(([k, v]) => ({ field: k, value: v }));
    $("arch-config").replaceChildren(...table(config, ["field", "value"]).childNodes);
    document.body.dataset.arch = run.id;
  }

  Studio.views.arch = { shown: show, runChanged: (run) => { if (Studio.view === "arch") show(run); } };
})();
