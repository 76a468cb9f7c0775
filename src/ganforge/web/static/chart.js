// Line charts as SVG, drawn by hand: no library, nothing loaded from outside this server.
"use strict";

const Chart = (() => {
  const W = 480, H = 210, M = { left: 52, right: 22, top: 24, bottom: 26 };
  const COLORS = ["#0a66c2", "#d1495b", "#2a9d8f", "#e9a03b", "#6a4c93", "#3d5a80", "#8d6e63", "#43aa8b"];
  const MAX_POINTS = 1500; // per series: a long run is thinned for drawing, never for the data kept
  const SVG = "http://www.w3.org/2000/svg";

  function el(name, attrs, text) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text != null) node.textContent = text;
    return node;
  }

  // About n round numbers spanning [lo, hi].
  function ticks(lo, hi, n) {
    if (!(hi > lo)) return [lo];
    const raw = (hi - lo) / n;
    const mag = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
    const out = [];
    for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(+t.toPrecision(12));
    return out;
  }

  function fmt(v) {
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(1);
    return String(+v.toPrecision(4));
  }

  function thin(points) {
    if (points.length <= MAX_POINTS) return points;
    const stride = points.length / MAX_POINTS;
    const out = [];
    for (let i = 0; i < MAX_POINTS; i++) out.push(points[Math.floor(i * stride)]);
    out.push(points[points.length - 1]);
    return out;
  }

  // series: [{label, points: [[x, y], ...], color?}]; the element's data-points says how many points it shows.
  function draw(container, title, series, xLabel) {
    const clean = series.map((s, i) => ({ ...s, color: s.color || COLORS[i % COLORS.length],
      points: s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)) }));
    const all = clean.flatMap((s) => s.points);
    container.dataset.points = String(all.length);
    container.dataset.lastX = all.length ? String(Math.max(...all.map((p) => p[0]))) : "";
    const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title });
    svg.appendChild(el("text", { x: M.left, y: 15, class: "chart-title" }, title));
    if (!all.length) {
      svg.appendChild(el("text", { x: W / 2, y: H / 2, class: "chart-empty", "text-anchor": "middle" }, "no data yet"));
      container.replaceChildren(svg);
      return;
    }
    let [x0, x1] = [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
    let [y0, y1] = [Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[1]))];
    if (x1 === x0) { x0 -= 1; x1 += 1; }
    if (y1 === y0) { y0 -= Math.abs(y0) * 0.1 || 1; y1 += Math.abs(y1) * 0.1 || 1; }
    const pad = (y1 - y0) * 0.05;
    y0 -= pad; y1 += pad;
    const sx = (x) => M.left + ((x - x0) / (x1 - x0)) * (W - M.left - M.right);
    const sy = (y) => H - M.bottom - ((y - y0) / (y1 - y0)) * (H - M.top - M.bottom);
    for (const t of ticks(y0, y1, 4)) {
      svg.appendChild(el("line", { x1: M.left, x2: W - M.right, y1: sy(t), y2: sy(t), class: "grid-line" }));
      svg.appendChild(el("text", { x: M.left - 4, y: sy(t) + 4, "text-anchor": "end", class: "tick" }, fmt(t)));
    }
    for (const t of ticks(x0, x1, 5)) {
      svg.appendChild(el("text", { x: sx(t), y: H - 8, "text-anchor": "middle", class: "tick" }, fmt(t)));
    }
    // The axis' name sits left of its first tick, where no tick label can run into it.
    svg.appendChild(el("text", { x: M.left - 6, y: H - 8, "text-anchor": "end", class: "tick axis" }, xLabel || ""));
    for (const s of clean) {
      const pts = thin(s.points);
      const d = pts.map(([x, y], i) => `${i ? "L" : "M"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join("");
      svg.appendChild(el("path", { d, stroke: s.color, class: "series", "data-label": s.label }));
      if (pts.length < 30) {
        for (const [x, y] of pts) svg.appendChild(el("circle", { cx: sx(x), cy: sy(y), r: 2.2, fill: s.color }));
      }
    }
    const legend = document.createElement("div");
    legend.className = "legend";
    for (const s of clean) {
      const item = document.createElement("span");
      item.innerHTML = `<i style="background:${s.color}"></i>`;
      item.append(s.label);
      legend.appendChild(item);
    }
    container.replaceChildren(svg, legend);
  }

  return { draw, COLORS };
})();
