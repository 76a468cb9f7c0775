// The New run view: a form that starts `ganforge train` on the server, in its runs root.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  let presets = [];
  let loaded = false;
  const INTS = ["steps", "batch_size", "width", "seed", "eval_every", "log_every", "grid_every"];
  const FLOATS = ["lr_g", "lr_d"];

  async function load() {
    if (loaded) return;
    const [p, d] = await Promise.all([fetch("/api/presets").then((r) => r.json()),
      fetch("/api/datasets").then((r) => r.json())]);
    presets = p.presets;
    $("new-preset").replaceChildren(...presets.map((x) => new Option(x.name, x.name)));
    const named = d.named.map((x) => new Option(x.name, x.name));
    const folders = d.folders.map((x) => new Option(x, x));
    $("new-dataset").replaceChildren(...named, ...folders);
    $("new-preset").value = presets.some((x) => x.name === "dcgan-28-fast") ? "dcgan-28-fast" : presets[0].name;
    presetChanged();
    loaded = true;
    document.body.dataset.formReady = "1";
  }

  // The preset's own values as placeholders: an empty box trains with them.
  function presetChanged() {
    const p = presets.find((x) => x.name === $("new-preset").value);
    if (!p) return;
    $("new-steps").placeholder = p.steps || "";
    if (!$("new-steps").value && p.steps) $("new-steps").value = p.steps;
    $("new-batch-size").placeholder = p.batch_size || "";
    $("new-width").placeholder = p.width || "";
    $("new-width").disabled = p.width == null;
    $("new-lr-g").placeholder = p.lr_g || "";
    $("new-lr-d").placeholder = p.lr_d || "";
    const [c, h, w] = p.image_shape;
    $("new-preset-info").textContent = `${p.description} (${h}x${w}x${c}${p.conditional ? ", conditional" : ""})`;
  }

  function formValues() {
    const body = { preset: $("new-preset").value, dataset: $("new-dataset").value };
    for (const input of document.querySelectorAll("#new-run-form input")) {
      const value = input.value.trim();
      if (!value || input.disabled) continue;
      const name = input.name;
      // Numbers go as numbers when they read as one; anything else goes as typed and the server names it.
      if (INTS.includes(name) && /^-?\d+$/.test(value)) body[name] = Number(value);
      else if (FLOATS.includes(name) && Number.isFinite(Number(value))) body[name] = Number(value);
      else body[name] = value;
    }
    return body;
  }

  async function start(event) {
    event.preventDefault();
    $("new-run-error").textContent = "";
    $("new-start").disabled = true;
    try {
      const response = await fetch("/api/runs", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify(formValues()) });
      const answer = await response.json();
      if (!response.ok) {
        $("new-run-error").textContent = answer.detail || `HTTP ${response.status}`;
        return;
      }
      await Studio.refreshRuns(answer.id);
      Studio.show("training");
    } finally {
      $("new-start").disabled = false;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("new-preset").addEventListener("change", presetChanged);
    $("new-run-form").addEventListener("submit", start);
  });

  Studio.views.new = {
    shown: () => {
      const tr = Studio.training();
      $("new-start").disabled = !tr.enabled;
      if (!tr.enabled) $("new-run-error").textContent = "this server was started without a runs root";
      load();
    },
  };
})();
