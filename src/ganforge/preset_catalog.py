"""What the presets are, for a person: the ``ganforge presets`` table and each preset's full description.

The table has one line per preset, in ``preset_names`` order: its image shape, what it is for, G's and D's
trainable parameters and its headline figure from ``quality.json``. A description gives the recipe (every
value the preset sets), the measured figures with the budget, machine and command of each, and the
Keras-style summaries of G and D. The networks are built as a run on MNIST builds them (60,000 images, ten
classes for a conditional preset), without loading any data.
"""

from __future__ import annotations

import textwrap
from typing import Any

import torch

from .config import RunConfig, TrainConfig
from .models.summary import count_parameters
from .presets import FAMILIES, get_preset, preset_names, summarize_preset
from .presets.quality import Measurement, Record, headline, measured_quality
from .resolve import DataFacts, resolve

WIDTH = 100
# What a preset is shown on: the class count only sizes a conditional preset's embeddings, and the size only
# turns a length in epochs into steps.
SHOWN_ON = DataFacts("mnist", 60_000, 10, [str(i) for i in range(10)])


def example_config(name: str) -> RunConfig:
    """The complete config of a run of preset ``name`` with its own defaults, on MNIST's facts."""
    return resolve(TrainConfig(preset=name), SHOWN_ON)


def trainable_counts(cfg: RunConfig) -> tuple[int, int]:
    """G's and D's trainable parameters for ``cfg``. The networks are made on the meta device: shapes without
    storage, so no memory and no initialisation (which is most of the time ``build_models`` takes); spectral
    norm, which ``build_models`` would add, adds no trainable parameter."""
    p = get_preset(cfg.preset)
    with torch.device("meta"):
        g, d = p.generator(cfg), p.discriminator(cfg)
    return count_parameters(g).trainable, count_parameters(d).trainable


def compact(n: int) -> str:
    """A parameter count in a few characters: ``513``, ``240k``, ``2.31M``."""
    if n < 1000:
        return str(n)
    return f"{n / 1e3:.0f}k" if n < 999_500 else f"{n / 1e6:.2f}M"


def image_text(shape: tuple[int, int, int]) -> str:
    c, h, w = shape
    return f"{h}x{w}x{c}"


def _headline_text(record: Record | None) -> str:
    found = headline(record or [])
    return found[1].short() if found else "not measured"


def presets_table(width: int = WIDTH) -> str:
    """Every preset on one line, at most ``width`` columns (the last column is cut to fit)."""
    quality = measured_quality()
    rows = [("preset", "image", "G / D params", "measured", "for")]
    for name in preset_names():
        p = get_preset(name)
        g, d = trainable_counts(example_config(name))
        rows.append((name, image_text(p.image_shape), f"{compact(g)} / {compact(d)}", _headline_text(quality.get(name)),
                     p.purpose))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    room = width - sum(widths) - 2 * len(widths)

    def line(row: tuple[str, ...]) -> str:
        last = row[-1] if len(row[-1]) <= room else row[-1][:max(room - 3, 0)] + "..."
        return "  ".join(f"{c:<{w}}" for c, w in zip(row, widths)) + "  " + last

    notes = ["G / D params: trainable, for 10 classes where conditional. measured: the headline figure,",
             "each at its own budget. 'ganforge presets NAME': the recipe, every figure with its budget and",
             "command, and the layers of G and D."]
    return "\n".join([*map(line, rows), "", *notes])


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, tuple):
        return "(" + ", ".join(_value(x) for x in v) + ")"
    return str(v)


def recipe_lines(cfg: RunConfig) -> list[str]:
    """``field  value`` for every value ``cfg``'s preset sets (its ``extra`` options as ``extra.KEY``), by
    name; a length in epochs with the steps it makes on ``cfg``'s data."""
    defaults = dict(get_preset(cfg.preset).defaults)
    items = {k: _value(v) for k, v in defaults.items() if k != "extra"}
    items.update({f"extra.{k}": _value(v) for k, v in defaults.get("extra", {}).items()})
    if "epochs" in items:
        items["epochs"] += f" ({cfg.steps:,} steps of {cfg.batch_size} on MNIST's {SHOWN_ON.size:,} images)"
    w = max(map(len, items), default=0)
    return [f"  {k:<{w}}  {items[k]}" for k in sorted(items)]


def measurement_lines(m: Measurement, width: int = WIDTH) -> list[str]:
    """One measurement: its data set and budget, each figure on a line, the note, the machine, the command."""
    head = f"{m.dataset_name}{', conditional' if m.conditional else ''}, {m.budget}"
    extras = [f"{m.train_seconds:,g} s of training" if m.train_seconds is not None and "s of training" not in m.budget
              else "", f"{m.seconds_per_step:g} s a step" if m.seconds_per_step else "",
              f"seed {m.seed}" if m.seed is not None else ""]
    head += "".join(f"; {e}" for e in extras if e)
    wrap = textwrap.TextWrapper(width=width, initial_indent="  ", subsequent_indent="    ")
    lines = wrap.wrap(head)
    for f in m.figures:
        lines += wrap.wrap(f"- {f.text()}" + (f": {f.note}" if f.note else "") + ("  [headline]" if f.headline else ""))
    if m.note:
        lines += wrap.wrap(m.note)
    lines += wrap.wrap(f"machine: {m.machine}")
    lines.append(f"    $ {m.command}")  # whole, so it can be copied
    return lines


def describe_preset(name: str, width: int = WIDTH) -> str:
    """Everything about preset ``name``: what it is, its recipe, what it was measured to reach and with what,
    and the Keras-style summaries of its networks. An unknown name is a ``GanforgeError`` naming the choices."""
    p = get_preset(name)
    cfg = example_config(name)
    wrap = textwrap.TextWrapper(width=width, subsequent_indent="  ")
    c, h, w = p.image_shape
    lines = [*wrap.wrap(f"{name}: {p.description}"), ""]
    lines += wrap.wrap(f"image: {image_text(p.image_shape)} ({c} channel{'s' if c > 1 else ''}, {h}x{w} pixels)"
                       + (f"; sides {', '.join(map(str, p.supported_resolutions))}" if p.resolutions else ""))
    lines += wrap.wrap(f"family: {p.family}, {FAMILIES[p.family]}")
    lines += wrap.wrap(f"source: {p.source}")
    if cfg.num_classes:
        lines += wrap.wrap(f"conditional: the layers below are for {cfg.num_classes} classes (MNIST's)")
    lines += ["", "recipe (the values the preset sets; every other field has its default, see "
              "'ganforge train --help'):", *recipe_lines(cfg), ""]
    record = measured_quality().get(name, [])
    found = headline(record)
    if found:
        lines += wrap.wrap(f"measured (presets/quality.json); the headline: {found[0].dataset_name} "
                           f"{found[1].text()}, {found[0].budget}")
    else:
        lines += wrap.wrap("measured: nothing yet (bench/preset_quality.py measures a preset; bench/gpu_colour.sh the "
                           "colour presets for a GPU, on a GPU)")
    for m in record:
        lines += measurement_lines(m, width)
    g, d = summarize_preset(cfg)
    lines += ["", g.to_text(width), "", d.to_text(width)]
    return "\n".join(lines)
