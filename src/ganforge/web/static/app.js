// ganforge studio: plain JavaScript, no build step, nothing loaded from outside this server.
"use strict";

const $ = (id) => document.getElementById(id);
let runs = [];
let limits = {};
let training = {};
// What the other scripts (live, compare, new run, architecture) hook into: the views by name, and the
// current run's changes.
const Studio = { views: {}, view: "samples", current: () => current(), runs: () => runs, training: () => training };
// Each draw or interpolation takes a ticket; an answer that arrives after a newer request is dropped.
const tickets = { draw: 0, interpolate: 0 };

function current() {
  return runs.find((r) => r.id === $("run-select").value);
}

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

// Query string for the current run's class picker (nothing for unconditional runs or "mixed").
function classParam() {
  const run = current();
  const value = $("class-select").value;
  return run && run.num_classes && value !== "" ? { class: value } : {};
}

function apiUrl(path, params) {
  const run = current();
  const query = new URLSearchParams(params).toString();
  return `/api/runs/${encodeURIComponent(run.id)}/${path}${query ? "?" + query : ""}`;
}

// Fetch once to surface the API's one-line error; the images themselves then come from its cache.
async function check(url, stillWanted) {
  const response = await fetch(url);
  if (response.ok) return true;
  let detail = `HTTP ${response.status}`;
  try {
    detail = (await response.json()).detail || detail;
  } catch (e) { /* not JSON: keep the status */ }
  if (stillWanted()) setStatus(detail, true);
  return false;
}

function tile(src, filename, caption) {
  const figure = document.createElement("figure");
  figure.className = "tile";
  const img = document.createElement("img");
  img.src = src;
  img.alt = caption;
  const cap = document.createElement("figcaption");
  const link = document.createElement("a");
  link.className = "download";
  link.href = src;
  link.download = filename;
  link.textContent = caption + " ⤓";
  link.title = "download " + filename;
  cap.appendChild(link);
  figure.append(img, cap);
  return figure;
}

// data-busy is "1" while any request of the page is in flight (the tests wait on it too).
let pending = 0;
function busy(on) {
  pending += on ? 1 : -1;
  document.body.dataset.busy = pending > 0 ? "1" : "0";
}

async function draw() {
  const run = current();
  if (!run) return;
  if (!run.has_generator) {
    $("grid").replaceChildren();
    setStatus(`${run.name}: no checkpoint yet; its samples can be drawn after the first one (see Training)`);
    return;
  }
  const seed = $("seed").value.trim();
  const n = Number($("count").value);
  const params = { seed, n, ...classParam() };
  const ticket = ++tickets.draw;
  busy(true);
  try {
    const gridUrl = apiUrl("samples.png", params);
    const ok = await check(gridUrl, () => ticket === tickets.draw);
    if (!ok || ticket !== tickets.draw) return;
    $("grid-download").href = gridUrl;
    $("grid-download").download = `${run.id}-seed${seed}-n${n}.png`;
    const tiles = [];
    for (let i = 0; i < n; i++) {
      tiles.push(tile(apiUrl(`samples/${i}.png`, params), `${run.id}-seed${seed}-n${n}-${i}.png`, `#${i}`));
    }
    $("grid").replaceChildren(...tiles);
    setStatus(`${run.name}: seed ${seed}, ${n} image${n === 1 ? "" : "s"}`);
  } finally {
    busy(false);
  }
}

async function interpolate() {
  const run = current();
  if (!run || !run.has_generator) return;
  const a = $("interp-a").value.trim();
  const b = $("interp-b").value.trim();
  const frames = Number($("interp-frames").value);
  const params = { a, b, frames, ...classParam() };
  const ticket = ++tickets.interpolate;
  busy(true);
  try {
    const rowUrl = apiUrl("interpolate.png", params);
    const ok = await check(rowUrl, () => ticket === tickets.interpolate);
    if (!ok || ticket !== tickets.interpolate) return;
    $("interp-download").href = rowUrl;
    $("interp-download").download = `${run.id}-seed${a}-to-${b}.png`;
    const tiles = [];
    for (let i = 0; i < frames; i++) {
      tiles.push(tile(apiUrl(`interpolate/${i}.png`, params), `${run.id}-seed${a}-to-${b}-${i}.png`, `${i}`));
    }
    $("interp-row").replaceChildren(...tiles);
    const gifUrl = apiUrl("interpolate.gif", params);
    $("interp-gif").src = gifUrl;
    $("interp-gif").hidden = false;
    $("gif-download").href = gifUrl;
    $("gif-download").download = `${run.id}-seed${a}-to-${b}.gif`;
    setStatus(`${run.name}: seed ${a} to seed ${b} in ${frames} frames`);
  } finally {
    busy(false);
  }
}

function showInfo() {
  const run = current();
  if (!run) return;
  const shape = run.image_shape;
  const parts = [run.kind === "pretrained" ? "ships with ganforge" : null, run.preset, run.dataset,
    run.step != null ? `step ${run.step}` : null,
    shape.height ? `${shape.height}x${shape.width}x${shape.channels}` : null,
    run.num_classes ? `${run.num_classes} classes` : null];
  $("run-info").textContent = parts.filter((p) => p).join(" · ");
  Studio.showState(run.status);
}

// The header's badge: what the current run is doing (the live stream keeps it up to date).
Studio.showState = (status) => {
  const state = status && status.state;
  const badge = $("run-state");
  badge.hidden = !state || state === "ready";
  badge.textContent = state || "";
  badge.dataset.state = state || "";
};

function showRun() {
  const run = current();
  if (!run) {
    $("run-info").textContent = "no runs yet: start one under New run";
    return;
  }
  showInfo();
  const select = $("class-select");
  const options = [new Option("mixed (from the seed)", "")];
  for (let k = 0; k < (run.num_classes || 0); k++) {
    const named = run.class_names && run.class_names[k] != null && run.class_names[k] !== String(k);
    const name = named ? `${k}: ${run.class_names[k]}` : String(k);
    options.push(new Option(name, String(k)));
  }
  select.replaceChildren(...options);
  $("class-label").hidden = !run.num_classes;
  $("interp-row").replaceChildren();
  $("interp-gif").hidden = true;
}

// The run list again (runs started here or from a terminal appear); keeps the selection, or selects `select`.
Studio.refreshRuns = async (select, quiet = false) => {
  const body = await (await fetch("/api/runs")).json();
  const before = $("run-select").value;
  runs = body.runs;
  limits = body.limits;
  training = body.training;
  $("run-select").replaceChildren(...runs.map((r) => new Option(r.name === r.id ? r.id : `${r.id} (${r.name})`, r.id)));
  const wanted = select || before;
  if (runs.some((r) => r.id === wanted)) $("run-select").value = wanted;
  const changed = $("run-select").value !== before;
  if (quiet) return changed;
  if (changed) { showRun(); runChanged(); } else showInfo();
  for (const hook of Object.values(Studio.views)) if (hook.runsChanged) hook.runsChanged();
  return changed;
};

// A run's entry changed under the page (its first checkpoint, a new step): keep the list's copy current.
Studio.updateRun = (id, fields) => {
  const run = runs.find((r) => r.id === id);
  if (run) Object.assign(run, fields);
  if (current() && current().id === id) showInfo();
};

function runChanged() {
  for (const hook of Object.values(Studio.views)) if (hook.runChanged) hook.runChanged(current());
}

Studio.show = (view) => {
  Studio.view = view;
  for (const button of document.querySelectorAll("#tabs button")) {
    button.setAttribute("aria-selected", String(button.dataset.view === view));
  }
  for (const section of document.querySelectorAll(".view")) section.hidden = section.id !== `view-${view}`;
  $("status").hidden = view !== "samples"; // the explorer's line; the other views have their own
  const hook = Studio.views[view];
  if (hook && hook.shown) hook.shown(current());
  else if (view === "samples") draw();
};

async function init() {
  await Studio.refreshRuns(null, true);
  for (const id of ["seed", "interp-a", "interp-b"]) $(id).max = limits.max_seed;
  $("interp-frames").max = limits.max_frames;
  for (const button of document.querySelectorAll("#tabs button")) {
    button.addEventListener("click", () => Studio.show(button.dataset.view));
  }
  $("refresh-runs").addEventListener("click", () => Studio.refreshRuns());
  $("run-select").addEventListener("change", () => {
    showRun();
    runChanged();
    if (Studio.view === "samples") draw();
    else Studio.show(Studio.view);
  });
  $("class-select").addEventListener("change", draw);
  $("count").addEventListener("change", draw);
  $("samples-form").addEventListener("submit", (e) => { e.preventDefault(); draw(); });
  $("new-sample").addEventListener("click", () => {
    $("seed").value = Math.floor(Math.random() * 2 ** 31);
    draw();
  });
  $("interp-form").addEventListener("submit", (e) => { e.preventDefault(); interpolate(); });
  showRun();
  runChanged();
  const run = current();
  if (run && !run.has_generator && run.has_log) Studio.show("training");  // nothing to sample yet: watch it
  else await draw();
  document.body.dataset.ready = "1";
}

document.addEventListener("DOMContentLoaded", init);
