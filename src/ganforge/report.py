"""``ganforge report RUN_DIR``: one self-contained HTML page about a run.

Config, the layers of G and D (Keras-style summaries), loss and metric curves, the fixed-noise grids over
training, the final samples and an animated GIF of the grids. Every image is inlined as a base64 ``data:``
URI, so the file can be mailed or attached to a bug report and opens anywhere with no other files and no network.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import re
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from .config import RunConfig
from .fileio import atomic_write_text
from .run.folder import LOG_FILE, config_from_dict, read_config, read_log
from .run.pretrained import SAMPLES_FILE, is_pretrained_folder
from .run.pretrained import read_config as read_pretrained_config
from .run.shipped import is_shipped_ref, read_info, shipped_name_of, shipped_path

REPORT_FILE = "report.html"
MAX_GIF_FRAMES = 100  # a run with a grid every few steps would make a GIF of many megabytes
MAX_GRID_PANELS = 12  # grids shown side by side in "Samples over training"
_GRID_NAME = re.compile(r"step_(\d+)\.png$")


def grid_files(run_dir: str | Path) -> list[tuple[int, Path]]:
    """The fixed-noise grids of a run as (step, path), in training order."""
    found = []
    for p in (Path(run_dir) / "grids").glob("step_*.png"):
        m = _GRID_NAME.search(p.name)
        if m:
            found.append((int(m.group(1)), p))
    return sorted(found)


def evenly_spaced(items: list, k: int) -> list:
    """At most ``k`` items, evenly spaced, always keeping the first and the last."""
    if len(items) <= k:
        return list(items)
    if k == 1:
        return [items[-1]]
    idx = sorted({round(i * (len(items) - 1) / (k - 1)) for i in range(k)})
    return [items[i] for i in idx]


def _labelled(image: Image.Image, text: str) -> Image.Image:
    """The image with a black band above it that says ``text`` (which step a frame shows)."""
    font = ImageFont.load_default()
    band = 14
    out = Image.new(image.mode, (image.width, image.height + band), 0)
    out.paste(image, (0, band))
    ImageDraw.Draw(out).text((2, 1), text, fill=255 if image.mode == "L" else (255, 255, 255), font=font)
    return out


def grids_gif(grids: list[tuple[int, Path]], frame_ms: int = 500) -> bytes:
    """An animated, looping GIF of the grids, one frame each (labelled with its step); the last
    frame stays up longer."""
    frames = []
    for step, path in grids:
        with Image.open(path) as im:
            frames.append(_labelled(im.convert("RGB" if im.mode not in ("L", "RGB") else im.mode), f"step {step}"))
    durations = [frame_ms] * (len(frames) - 1) + [4 * frame_ms]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0)
    return buf.getvalue()


def curves_png(records: list[dict[str, Any]]) -> bytes | None:
    """Losses, D's outputs and every training metric against steps, as one PNG (None without records)."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no display

    train = [r for r in records if "loss_g" in r]
    evals = [r for r in records if "metric" in r]
    metric_keys = sorted({(r["metric"], k) for r in evals for k, v in r.items()
                          if k not in ("step", "time", "metric") and isinstance(v, int | float)})
    if not train and not evals:
        return None
    rows = (2 if train else 0) + len(metric_keys)
    fig = Figure(figsize=(8, 2.6 * rows))
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    steps = [r["step"] for r in train]
    style = ".-" if len(steps) < 30 else "-"  # a short run's few points stay visible
    row = 0
    if train:
        axes[0].plot(steps, [r["loss_g"] for r in train], style, label="G loss")
        axes[0].plot(steps, [r["loss_d"] for r in train], style, label="D loss")
        axes[0].set_ylabel("loss")
        axes[1].plot(steps, [r["d_real"] for r in train], style, label="D(x)")
        axes[1].plot(steps, [r["d_fake"] for r in train], style, label="D(G(z))")
        axes[1].set_ylabel("D output")
        row = 2
    for metric, key in metric_keys:
        pts = [(r["step"], r[key]) for r in evals if r["metric"] == metric and key in r]
        axes[row].plot([s for s, _ in pts], [v for _, v in pts], "o-", label=f"{metric}: {key}")
        axes[row].set_ylabel(key)
        row += 1
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(loc="best")
    axes[-1].set_xlabel("step")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return buf.getvalue()


# ---- HTML ---------------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
table { border-collapse: collapse; font-size: .9em; } td, th { padding: .2em .8em; border-bottom: 1px solid #eee;
text-align: left; } .pix { image-rendering: pixelated; } figure { display: inline-block; margin: .4em; }
figcaption { text-align: center; font-size: .85em; color: #555; } .muted { color: #777; }
.arch td:nth-child(3) { text-align: right; font-variant-numeric: tabular-nums; }
"""


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _img(data: bytes, mime: str, alt: str, width: int | None = None, pixelated: bool = True) -> str:
    size = f' width="{width}"' if width else ""
    cls = ' class="pix"' if pixelated else ""
    return f'<img src="{_data_uri(data, mime)}" alt="{html.escape(alt)}"{size}{cls}>'


def _png_width(path: Path) -> int:
    with Image.open(path) as im:
        return im.width


def _table(rows: list[tuple[Any, ...]], header: tuple[str, ...] | None = None) -> str:
    def cell(v: Any) -> str:
        return html.escape(v if isinstance(v, str) else json.dumps(v))
    head = "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table>{head}{body}</table>"


def _section(sid: str, title: str, body: str) -> str:
    return f'<section id="{sid}"><h2>{html.escape(title)}</h2>\n{body}\n</section>\n'


def _page(title: str, parts: list[str]) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>\n<body>\n"
            f"<h1>{html.escape(title)}</h1>\n" + "".join(parts) + "</body></html>\n")


def _pretrained_folder(run_dir: str | Path) -> Path | None:
    """The folder of ``pretrained:NAME`` or of a pretrained folder (not a run folder), else None."""
    if is_shipped_ref(run_dir):
        return shipped_path(str(run_dir))
    path = Path(run_dir)
    return path if is_pretrained_folder(path) and not (path / "checkpoints").is_dir() else None


def build_pretrained_report(folder: Path) -> str:
    """A pretrained folder has no log or grids: what it is, how it was made and measured, its samples."""
    config = read_pretrained_config(folder)
    info = read_info(folder)
    name = shipped_name_of(folder) or folder.resolve().name
    tc = config.get("train_config") or {}
    c, h, w = config["image_shape"]
    summary = [("generator", name), ("preset", config.get("preset")), ("dataset", tc.get("dataset")),
               ("steps trained", config.get("step")), ("image", f"{h}x{w}x{c}"), ("latent size", config.get("z_dim")),
               ("classes", config.get("num_classes") or "unconditional"
                + (f", self-conditioned on {tc['clusters']} clusters" if tc.get("clusters") else ""))]
    parts = [_section("summary", "Summary", _table(summary))]
    made = [(k, info[k]) for k in ("command", "environment", "budget", "data") if info.get(k) is not None]
    parts.append(_section("made", "How it was made", _table(made) if made else
                          '<p class="muted">no pretrained.json beside the model: not recorded</p>'))
    metrics = info.get("metrics") or {}
    parts.append(_section("metrics", "Metrics", _table(sorted(metrics.items()), ("metric", "value")) if metrics
                          else '<p class="muted">no metrics recorded</p>'))
    parts.append(_section("config", "Config", _table(sorted(tc.items()), ("field", "value"))))
    cfg = config_from_dict(tc, source=str(folder / "config.json"))
    parts.append(_section("architecture", "Architecture", architecture_html(cfg)))
    samples = folder / SAMPLES_FILE
    parts.append(_section("final", "Samples", _img(samples.read_bytes(), "image/png", "samples", width=min(
        3 * _png_width(samples), 960)) if samples.is_file() else '<p class="muted">no samples.png</p>'))
    parts.append(_section("curves", "Loss and metric curves",
                          '<p class="muted">a pretrained folder keeps the generator only, not the training log</p>'))
    return _page(f"ganforge generator {name}", parts)


def architecture_html(cfg: RunConfig) -> str:
    """G's and D's layers, output shapes and parameters as two tables, from the summaries of the networks the
    run's config builds; a note in their place where the config no longer builds (a preset since removed)."""
    from .errors import GanforgeError
    from .presets import summarize_preset

    try:
        summaries = summarize_preset(cfg)
    except (GanforgeError, KeyError, RuntimeError, TypeError, ValueError) as e:  # a config that no longer fits
        return f'<p class="muted">the networks could not be rebuilt from config.json: {html.escape(str(e))}</p>'
    parts = []
    for s in summaries:
        rows = [(r.label, r.shape_text, f"{r.params:,}") for r in s.rows]
        totals = "".join(f"<li>{html.escape(line)}</li>" for line in s.totals_lines())
        parts.append(f'<h3>{html.escape(s.name)}</h3><div class="arch">'
                     + _table(rows, ("Layer (type)", "Output Shape", "Param #")) + f"</div><ul>{totals}</ul>")
    return "".join(parts)


def build_report(run_dir: str | Path) -> str:
    """The report of a run folder (or a pretrained folder, or ``pretrained:NAME``) as one HTML string."""
    folder = _pretrained_folder(run_dir)
    if folder is not None:
        return build_pretrained_report(folder)
    run_dir = Path(run_dir)
    cfg = read_config(run_dir)  # a clear error for a folder that is not a run
    records = read_log(run_dir / LOG_FILE) if (run_dir / LOG_FILE).is_file() else []
    train = [r for r in records if "loss_g" in r]
    evals = [r for r in records if "metric" in r]
    grids = grid_files(run_dir)
    last_step = max([r["step"] for r in records] + [s for s, _ in grids] + [0])
    title = f"ganforge run {run_dir.resolve().name}"

    summary = [("preset", cfg.preset), ("dataset", cfg.dataset), ("steps trained", last_step)]
    if train:
        last = train[-1]
        summary += [("training time (s)", last.get("time")), ("images/s (last interval)", last.get("images_per_sec")),
                    ("final G / D loss", f"{last['loss_g']:.4g} / {last['loss_d']:.4g}")]
    parts = [_section("summary", "Summary", _table(summary))]
    parts.append(_section("config", "Config", _table(list(cfg.to_dict().items()), ("field", "value"))))
    parts.append(_section("architecture", "Architecture", architecture_html(cfg)))

    png = curves_png(records)
    parts.append(_section("curves", "Loss and metric curves",
                          _img(png, "image/png", "loss and metric curves", pixelated=False) if png
                          else '<p class="muted">no log records yet</p>'))

    metric_html = ""
    if evals:
        keys = sorted({k for r in evals for k in r if k not in ("step", "time", "metric")})
        metric_html += _table([(r["step"], r["metric"], *(r.get(k, "") for k in keys)) for r in evals],
                              ("step", "metric", *keys))
    metrics_file = run_dir / "metrics.json"
    if metrics_file.is_file():
        try:
            measured = json.loads(metrics_file.read_text(encoding="utf-8"))
            metric_html += "<h3>ganforge eval</h3><pre>" + html.escape(json.dumps(measured, indent=2)) + "</pre>"
        except json.JSONDecodeError:
            metric_html += f'<p class="muted">{html.escape(str(metrics_file))} is not valid JSON</p>'
    parts.append(_section("metrics", "Metrics", metric_html or '<p class="muted">no metrics measured</p>'))

    if grids:
        shown = evenly_spaced(grids, MAX_GRID_PANELS)
        figs = "".join(f"<figure>{_img(p.read_bytes(), 'image/png', f'step {s}')}"
                       f"<figcaption>step {s}</figcaption></figure>" for s, p in shown)
        note = f'<p class="muted">{len(shown)} of {len(grids)} grids, from the same noise</p>'
        parts.append(_section("grids", "Samples over training", note + figs))
        frames = evenly_spaced(grids, MAX_GIF_FRAMES)
        width = 2 * _png_width(frames[-1][1])
        parts.append(_section("animation", "Animation", _img(grids_gif(frames), "image/gif", "grids over training",
                                                            width=width)))
    else:
        parts.append(_section("grids", "Samples over training", '<p class="muted">no grids yet</p>'))

    final = run_dir / "final_grid.png"
    final = final if final.is_file() else (grids[-1][1] if grids else None)
    parts.append(_section("final", "Final samples",
                          _img(final.read_bytes(), "image/png", "final samples", width=min(3 * _png_width(final), 960))
                          if final else '<p class="muted">no samples yet</p>'))

    return _page(title, parts)


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the report (default ``RUN_DIR/report.html``; for ``pretrained:NAME``, which is package data,
    ``pretrained-NAME/report.html`` here) atomically; returns its path."""
    default = Path(str(run_dir).replace(":", "-")) if is_shipped_ref(run_dir) else Path(run_dir)
    out = Path(out) if out else default / REPORT_FILE
    atomic_write_text(out, build_report(run_dir))
    return out


def add_report_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write one self-contained HTML page about a run",
                       description="Config, loss and metric curves, the grids over training, the final samples "
                                   "and an animated GIF, in one HTML file with every image inlined.")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--out", help=f"HTML file to write (default RUN_DIR/{REPORT_FILE})")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    out = write_report(args.run_dir, args.out)
    print(f"wrote {out}")
    return 0
