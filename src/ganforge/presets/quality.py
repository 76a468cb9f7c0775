"""What each preset was measured to reach: ``quality.json`` beside this file, one record per preset.

``bench/preset_quality.py`` writes it (``record``); ``ganforge presets`` and the docs read it
(``measured_quality``, ``headline``). A record lists measurements: one trained run each, with what it cost,
where it ran, the command that reproduces it, and its figures::

    {"dcgan-28-fast": {"measurements": [
      {"dataset": "mnist", "conditional": false, "budget": "600 s of one core: 15,301 steps of 64",
       "steps": 15301, "batch_size": 64, "train_seconds": 649, "budget_s": 600, "machine": "AMD EPYC Zen 4 ...",
       "command": "OMP_NUM_THREADS=1 python bench/preset_quality.py --presets dcgan-28-fast --budget-s 600 ...",
       "figures": [
        {"metric": "fid", "value": 22.5, "n": 2000, "headline": true},
        {"metric": "kid_mean", "value": 0.0109, "n": 2000, "std": 0.0005}, ...]}, ...]}}

A figure's ``metric`` is a key of ``ganforge eval``'s metrics.json (``fid``, ``kid_mean``, ``domain_fid``,
``class_accuracy``, ``confident``, ``class_kl``, ``modes``, ``modes_kl``...); fractions stay fractions (0.9922,
shown as 99.22%). Exactly one figure of a record is its ``headline``, the one the presets table shows.
``budget_s`` marks a run of a fixed-time budget, as the bench makes them: a new bench run of the same preset,
data set and budget replaces that measurement and keeps every other.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import MISSING, dataclass, fields, replace
from pathlib import Path
from typing import Any

from ..errors import GanforgeError
from ..fileio import atomic_write_text

QUALITY_FILE = Path(__file__).resolve().parent / "quality.json"

# metric key -> (short label, long label, how the value reads); a key not here reads as itself
METRICS: dict[str, tuple[str, str, str]] = {
    "fid": ("FID", "Inception FID", "number"),
    "kid_mean": ("KID", "Inception KID", "number"),
    "domain_fid": ("domain FID", "domain FID", "number"),
    "class_accuracy": ("class acc.", "class accuracy", "percent"),
    "confident": ("confident", "read with confidence (p > 0.9)", "percent"),
    "class_kl": ("class KL", "class KL", "number"),
    "modes": ("modes", "of 1,000 modes", "count"),
    "modes_kl": ("KL", "KL to uniform", "number"),
    "modes_kl_dependence": ("KL dependence", "KL of the channels' dependence", "number"),
}
VALUE_FIRST = ("modes", "confident")  # "1,000 modes", "72.1% read with confidence"
DATASET_NAMES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "stacked-mnist": "Stacked MNIST"}
HEADLINE_ORDER = ("fid", "modes", "domain_fid")  # the figure a new record leads with: the first it has


def _from_dict(cls: type, data: dict[str, Any], where: str) -> Any:
    """``cls(**data)``, naming the fields that are unknown or missing."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    missing = sorted(f.name for f in fields(cls) if f.default is MISSING and f.name not in data)
    if unknown or missing:
        said = [f"unknown fields {', '.join(unknown)}"] if unknown else []
        said += [f"no {', '.join(missing)}"] if missing else []
        raise GanforgeError(f"{where}: {'; '.join(said)}")
    return cls(**data)


def _set_fields(obj: Any) -> dict[str, Any]:
    """The fields of a dataclass in declaration order: the optional ones only where they say something."""
    defaults = {f.name: f.default for f in fields(obj)}
    return {k: getattr(obj, k) for k in defaults if defaults[k] is MISSING or getattr(obj, k) != defaults[k]}


@dataclass(frozen=True)
class Figure:
    metric: str  # a key of ganforge eval's metrics.json
    value: float
    n: int | None  # samples evaluated
    std: float | None = None  # KID: the spread over its subsets
    compare: str = "="  # "<=" where the value is a threshold the run reached
    baseline: dict[str, Any] | None = None  # the same figure for another preset: {"preset", "value", ...}
    note: str = ""
    headline: bool = False

    @property
    def figure(self) -> str:
        """The value as it reads: ``22.5``, ``99.22%``, ``1,000``, ``0.0109 ± 0.0005``."""
        kind = METRICS.get(self.metric, ("", "", "number"))[2]
        text = (f"{100 * self.value:.2f}".rstrip("0").rstrip(".") + "%" if kind == "percent"
                else format_number(self.value))
        return text + (f" ± {format_number(self.std)}" if self.std is not None else "")

    def short(self) -> str:
        """A few words for the presets table: ``FID 22.5``, ``1,000 modes``."""
        label = METRICS.get(self.metric, (self.metric,))[0]
        op = "" if self.compare == "=" else f"{self.compare} "
        value = self.figure.split(" ± ")[0]
        return f"{value} {label}" if self.metric in VALUE_FIRST else f"{label} {op}{value}"

    def text(self) -> str:
        """``Inception FID 22.5 (n = 2,000)``, ``1,000 of 1,000 modes (n = 26,000)``; with a baseline, its
        figure too: ``domain FID 156.6 (n = 5,000; dcgan-28-fast: 176.2 in 157 s)``."""
        label = METRICS.get(self.metric, (self.metric, self.metric))[1]
        op = "" if self.compare == "=" else f"{self.compare} "
        said = f"{self.figure} {label}" if self.metric in VALUE_FIRST else f"{label} {op}{self.figure}"
        about = [f"n = {self.n:,}"] if self.n else []
        if self.baseline:
            b = self.baseline
            took = f" in {format_number(b['train_seconds'])} s" if "train_seconds" in b else ""
            about.append(f"{b['preset']}: {format_number(b['value'])}{took}")
        return said + (f" ({'; '.join(about)})" if about else "")


@dataclass(frozen=True)
class Measurement:
    """One trained run of a preset and the figures measured on it."""

    dataset: str  # what it trained on and was measured against
    conditional: bool
    budget: str  # what the training cost, in words
    steps: int
    batch_size: int
    machine: str
    command: str  # what reproduces it
    figures: tuple[Figure, ...]
    train_seconds: float | None = None  # the run's own clock
    budget_s: float | None = None  # a fixed-time budget (the bench's): what a new bench run replaces by
    seconds_per_step: float | None = None
    seed: int | None = None
    note: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "") -> Measurement:
        figs = tuple(_from_dict(Figure, f, f"{where}, a figure") for f in data.get("figures", []))
        return _from_dict(cls, {**data, "figures": figs}, where)

    def to_dict(self) -> dict[str, Any]:
        out = _set_fields(self)
        out["figures"] = [_set_fields(f) for f in self.figures]
        return out

    @property
    def dataset_name(self) -> str:
        return DATASET_NAMES.get(self.dataset, self.dataset)


Record = list[Measurement]


def format_number(v: float) -> str:
    """Four significant digits with thousands separators; whole numbers whole."""
    if isinstance(v, int) or (float(v).is_integer() and abs(v) >= 1000):
        return f"{int(v):,}"
    return f"{v:,.0f}" if abs(v) >= 10_000 else f"{v:,.4g}"


def headline(record: Record) -> tuple[Measurement, Figure] | None:
    """The record's headline figure and the measurement it comes from."""
    return next(((m, f) for m in record for f in m.figures if f.headline), None)


def _check_record(name: str, record: Record, where: str) -> None:
    heads = sum(f.headline for m in record for f in m.figures)
    if record and heads != 1:
        raise GanforgeError(f"{where}: preset {name!r} has {heads} headline figures; a record has one")


def read_quality(path: str | os.PathLike[str] = QUALITY_FILE) -> dict[str, Record]:
    """Every preset's record in ``path``; {} when the file is absent."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError as e:
        raise GanforgeError(f"{path} is not valid JSON: {e}") from None
    out = {}
    for name, rec in data.items():
        out[name] = [Measurement.from_dict(m, f"{path.name}, preset {name!r}") for m in rec.get("measurements", [])]
        _check_record(name, out[name], str(path))
    return out


def measured_quality() -> dict[str, Record]:
    """What was measured for each preset (``quality.json``), by preset name."""
    return read_quality(QUALITY_FILE)


def _encode(data: dict[str, Record]) -> str:
    # A measurement's own fields on one line and each figure on its own: the file reads as a table, and a new
    # figure shows in a diff as the line it changed.
    def measurement(m: Measurement) -> str:
        head = json.dumps({k: v for k, v in m.to_dict().items() if k != "figures"}, ensure_ascii=False)
        figs = ",\n".join("      " + json.dumps(f, ensure_ascii=False) for f in m.to_dict()["figures"])
        return f'    {head[:-1]}, "figures": [\n{figs}\n    ]}}'

    records = [f'  {json.dumps(name)}: {{"measurements": [\n' + ",\n".join(map(measurement, rec)) + "\n  ]}"
               for name, rec in data.items()]
    return "{\n" + ",\n".join(records) + "\n}\n"


def write_quality(data: dict[str, Record], path: str | os.PathLike[str] = QUALITY_FILE) -> None:
    """Write ``data`` to ``path`` atomically (a reader sees the old file or the new, never half of one)."""
    for name, rec in data.items():
        _check_record(name, rec, str(path))
    atomic_write_text(path, _encode(data))


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock beside ``path`` (where the OS has them): two bench processes side by side
    each read, merge and write in turn, so neither drops the other's figures."""
    try:
        import fcntl
    except ImportError:  # Windows: one writer at a time is up to the user
        yield
        return
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _with_headline(m: Measurement, metric: str | None) -> Measurement:
    return replace(m, figures=tuple(replace(f, headline=f.metric == metric) for f in m.figures))


def merge(old: Record, new: Measurement, replaces: Callable[[Measurement], bool]) -> Record:
    """``old`` without the measurements ``replaces`` picks, then ``new``. The headline stays where it was;
    where its measurement was replaced it moves to ``new``'s figure of the same metric; a record without one
    leads with the first metric of ``HEADLINE_ORDER`` that it has."""
    kept = [m for m in old if not replaces(m)]
    was = headline(old)
    new = _with_headline(new, None)
    if headline(kept) is not None:
        return kept + [new]
    metrics = [f.metric for f in new.figures]
    pick = was[1].metric if was and was[1].metric in metrics else None
    pick = pick or next((m for m in HEADLINE_ORDER if m in metrics), None)
    if pick is None and kept:  # nothing in the new run to lead with: the old record's first figure
        return [_with_headline(kept[0], kept[0].figures[0].metric), *kept[1:], new]
    return kept + [_with_headline(new, pick or (metrics[0] if metrics else None))]


def record(preset: str, new: Measurement, replaces: Callable[[Measurement], bool],
           path: str | os.PathLike[str] = QUALITY_FILE) -> Record:
    """Merge ``new`` into ``preset``'s record in ``path`` (see ``merge``) and write the file atomically, every
    other record as it was; returns the preset's record."""
    path = Path(path)
    with _locked(path):
        data = read_quality(path)
        data[preset] = merge(data.get(preset, []), new, replaces)
        write_quality(data, path)
    return data[preset]
