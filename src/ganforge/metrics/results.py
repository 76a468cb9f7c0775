"""The results of an evaluation: the table `ganforge eval` prints, and metrics.json."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from ganforge.fileio import atomic_write_text
from ganforge.metrics.registry import METRICS, Metric

METRICS_FILE = "metrics.json"


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "ALARM" if value else "ok"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_result(metric: Metric, entry: dict[str, Any]) -> str:
    """The table cell: the headline number, then the others ("a ± b" for mean/std pairs)."""
    keys = [key for key in metric.keys if key in entry]
    parts = []
    for i, key in enumerate(keys):
        if key.endswith("_std") and parts and keys[i - 1].endswith("_mean"):
            parts[-1] += f" ± {format_value(entry[key])}"
        elif i == 0 and (len(keys) == 1 or (len(keys) == 2 and key.endswith("_mean"))):
            parts.append(format_value(entry[key]))
        else:
            parts.append(f"{key.removesuffix('_mean')} {format_value(entry[key])}")
    return ", ".join(parts)


def format_table(entries: dict[str, dict[str, Any]], title: str = "") -> str:
    rows = [("metric", "n", "better", "result")]
    for name, entry in entries.items():
        metric = METRICS[name]
        better = "lower" if metric.lower_is_better else "higher"
        rows.append((name, str(entry.get("n", "")), better, format_result(metric, entry)))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [title] if title else []
    for row in rows:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths)) + "  " + row[3])
    return "\n".join(lines)


def save_metrics(run_dir: str | os.PathLike[str], entries: dict[str, dict[str, Any]], *,
                 log: Callable[[str], None] = print) -> str:
    """Merge ``entries`` into ``run_dir/metrics.json`` atomically (one entry per metric; newest wins)."""
    path = os.path.join(run_dir, METRICS_FILE)
    merged: dict[str, Any] = {}
    if os.path.isfile(path):
        try:
            with open(path, encoding="utf-8") as f:
                merged = json.load(f)
        except (OSError, ValueError) as e:
            log(f"Replacing unreadable {path}: {e}")
        if not isinstance(merged, dict):
            merged = {}
    merged.update(entries)
    atomic_write_text(path, json.dumps(merged, indent=2) + "\n")
    return path
