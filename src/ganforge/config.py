"""Training configuration: one dataclass, read from the command line or a TOML/YAML file, checked
field by field, completed with the preset's defaults and written into the run folder as JSON."""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import tomllib
import yaml

from .errors import GanforgeError

DEFAULT_PRESET = "dcgan-28-fast"
DEFAULT_DATASET = "mnist"
MAX_SEED = 2**32 - 1


@dataclass
class TrainConfig:
    """Every knob of a training run. ``None`` means "the preset's value" until :meth:`resolved`."""

    preset: str = DEFAULT_PRESET
    dataset: str = DEFAULT_DATASET
    data_dir: str | None = None
    steps: int | None = None  # total steps of the whole run (a resume carries on to this count)
    epochs: int | None = None  # total epochs; converted to steps once the dataset size is known
    batch_size: int | None = None
    z_dim: int | None = None
    conditional: bool | None = None  # class-conditional G and D; the classes come from the dataset's labels
    optimizer: str | None = None  # "adam" or "sgd"
    lr_g: float | None = None
    lr_d: float | None = None
    betas: tuple[float, float] | None = None  # Adam
    momentum: float | None = None  # SGD
    loss: str | None = None
    d_update: str | None = None  # "sum", "concat", "separate" or "simultaneous" (see training.py)
    d_steps: int | None = None  # D updates per G update
    g_eval_for_d: bool | None = None  # make D's fakes with G in inference mode (Keras predict())
    g_noise: str | None = None  # G's step on "fresh" noise, or "reuse" the D step's (the Keras MLP-Adam loop)
    init: str | None = None  # "keras", "dcgan" or "torch"
    ema_kimg: float | None = None  # half-life of the EMA of G's weights, in thousands of images; 0 = off
    r1_gamma: float | None = None  # R1 penalty weight on real images (0/None = off)
    r1_every: int | None = None  # lazy R1: every k-th D step, scaled by k (StyleGAN2); default 1
    gp_weight: float | None = None  # WGAN-GP gradient penalty weight (0/None = off)
    spectral_norm: str | None = None  # "none", "d" (the discriminator) or "gd" (both)
    augment: str | None = None  # DiffAugment: "none" or a comma list of translation, cutout, color
    lr_schedule: str | None = None  # "constant", "linear" (to 0 at the last step) or "cosine"
    lr_decay_steps: int | None = None  # the decay spans the run's last N steps, constant before (None = all)
    pack: int | None = None  # PacGAN: D judges this many samples at once, stacked on channels (None/1 = off)
    seed: int = 0
    device: str = "auto"
    # Speed (accel/): none changes the maths except precision "bf16" (and accel's fast_dropout: another stream).
    precision: str | None = None  # "fp32" (default) or "bf16" (autocast of the forward passes)
    compile: str | None = None  # torch.compile mode; "auto" (default) compiles on GPUs only, "none" never
    channels_last: str | None = None  # NHWC convolutions: "auto" (default: on for conv nets), "on", "off"
    accel: str | None = None  # CPU speed tricks: "auto" (default: where they win), "off", or a comma list of them
    max_bad_steps: int = 20  # divergence guard: stop after this many steps in a row with NaN/Inf
    out: str | None = None
    log_every: int = 50
    grid_every: int | None = None
    grid_size: int = 5  # the sample grid is grid_size x grid_size
    checkpoint_every: int | None = None
    eval_every: int | None = None  # steps between evaluations during training (None = never)
    eval_metric: str = "domain-fid"  # a metric of ganforge.metrics; "best" checkpoint follows it
    eval_n: int = 5000  # generated images per evaluation
    logger: str = "none"  # where logs and grids also go: "none" or "tensorboard" (see loggers.py)
    progress: bool = True
    extra: dict[str, Any] = field(default_factory=dict)  # preset-specific architecture options

    def resolved(self, *, preset_defaults: bool = True) -> TrainConfig:
        """A copy with every ``None`` that the preset defines filled in, validated.

        ``preset_defaults=False`` is for a run's own config.json, written already resolved: a ``None``
        there is a setting the run had (say, no R1), which a preset default added since must not fill."""
        from .presets import get_preset

        preset = get_preset(self.preset)
        values = dataclasses.asdict(self)
        for key, default in preset.defaults.items():
            if key in ("steps", "epochs"):
                continue  # the run length is one choice: the user's, else the preset's
            if key == "extra":
                values["extra"] = {**default, **values["extra"]}
            elif preset_defaults and values.get(key) is None:
                values[key] = default
        _check_extra(preset.name, preset.defaults.get("extra", {}), values["extra"])
        cfg = TrainConfig(**values)
        if cfg.steps is None and cfg.epochs is None:
            cfg.steps = preset.defaults.get("steps")
            cfg.epochs = preset.defaults.get("epochs")
            if cfg.steps is None and cfg.epochs is None:
                cfg.steps = 1000
        cfg.validate()
        if cfg.lr_decay_steps is not None and (cfg.lr_schedule or "constant") == "constant":
            raise GanforgeError(f"lr_decay_steps {cfg.lr_decay_steps} needs a decaying lr_schedule (linear or "
                                f"cosine); preset '{cfg.preset}' keeps the rate constant unless lr_schedule is set")
        return cfg

    def validate(self) -> None:
        for f in fields(self):
            check = _CHECKS.get(f.name)
            value = getattr(self, f.name)
            if check is not None and value is not None:
                check(f.name, value)
        if self.steps is not None and self.epochs is not None:
            raise GanforgeError(
                f"give steps or epochs, not both (got steps={self.steps}, epochs={self.epochs})")
        penalties = [n for n in ("r1_gamma", "gp_weight") if getattr(self, n)]
        if penalties and self.d_update == "simultaneous":
            raise GanforgeError(f"{' and '.join(penalties)} need a separate D step; use d_update sum, concat or "
                                f"separate, not simultaneous")
        if self.conditional and self.pack is not None and self.pack > 1:
            # A projection D adds one class embedding per image; a pack of m images has m labels.
            raise GanforgeError(f"pack {self.pack} does not work with a conditional run (the projection D takes one "
                                f"label per image); use pack 1 or drop --conditional")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if d["betas"] is not None:
            d["betas"] = list(d["betas"])
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> TrainConfig:
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        for raw_key, value in data.items():
            key = str(raw_key).replace("-", "_")
            if key not in known:
                raise GanforgeError(
                    f"{source}: unknown field '{raw_key}'; valid fields: {', '.join(sorted(known))}")
            values[key] = _coerce(key, value, source)
        cfg = cls(**values)
        cfg.validate()
        return cfg

    @classmethod
    def from_file(cls, path: str | Path) -> TrainConfig:
        return cls.from_dict(read_config_file(path), source=str(path))


# Keys the trainer writes into ``extra`` itself (a conditional run's classes), whatever the preset.
TRAINER_EXTRA = ("num_classes", "class_names")


def _check_extra(preset: str, options: dict[str, Any], extra: dict[str, Any]) -> None:
    """Refuse an ``extra`` option the preset does not have (it would be ignored without a word), and a
    value that is not a positive integer for an integer option (the width)."""
    for key, value in extra.items():
        if key in TRAINER_EXTRA:
            continue
        if key not in options:
            takes = (f"its options: {', '.join(sorted(options))}" if options
                     else "its architecture is fixed (no extra options)")
            raise GanforgeError(f"extra.{key}: preset '{preset}' has no option '{key}'; {takes}")
        if isinstance(options[key], int) and not (isinstance(value, int) and not isinstance(value, bool)
                                                  and value >= 1):
            raise GanforgeError(f"extra.{key} must be a positive integer for preset '{preset}', got {value!r}")


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML, YAML or JSON config file into a dict (no code is executed: safe loaders only)."""
    p = Path(path)
    if not p.is_file():
        raise GanforgeError(f"config file '{p}' does not exist")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise GanforgeError(f"config file '{p}' is not UTF-8 text (byte {e.start}: {e.reason})") from None
    except OSError as e:
        raise GanforgeError(f"config file '{p}' cannot be read: {e.strerror or e}") from None
    suffix = p.suffix.lower()
    try:
        if suffix == ".toml":
            data = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text) or {}
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise GanforgeError(f"config file '{p}' must end in .toml, .yaml, .yml or .json")
    except (tomllib.TOMLDecodeError, yaml.YAMLError, json.JSONDecodeError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise GanforgeError(f"config file '{p}' is not valid {suffix[1:].upper()}: {first}") from None
    except RecursionError:  # the parsers recurse on nesting; a hostile file can nest deeper than Python's stack
        raise GanforgeError(f"config file '{p}' is nested too deeply to be a config") from None
    if not isinstance(data, dict):
        raise GanforgeError(f"config file '{p}' must hold a table of fields, got {type(data).__name__}")
    # A [train] table is accepted too, so one file can later hold other sections.
    if set(data) == {"train"} and isinstance(data["train"], dict):
        data = data["train"]
    return data


# ---- field checks ------------------------------------------------------------------------------

_TYPES: dict[str, type | tuple[type, ...]] = {
    "preset": str, "dataset": str, "data_dir": str, "steps": int, "epochs": int, "batch_size": int,
    "z_dim": int, "optimizer": str, "lr_g": float, "lr_d": float, "betas": tuple, "momentum": float,
    "loss": str, "d_update": str, "d_steps": int, "g_eval_for_d": bool, "g_noise": str, "init": str, "ema_kimg": float,
    "r1_gamma": float, "r1_every": int, "gp_weight": float, "spectral_norm": str, "augment": str, "lr_schedule": str,
    "lr_decay_steps": int, "pack": int, "seed": int, "precision": str, "compile": str, "channels_last": str,
    "accel": str,
    "max_bad_steps": int,
    "device": str, "out": str, "log_every": int, "grid_every": int, "grid_size": int,
    "checkpoint_every": int, "eval_every": int, "eval_metric": str, "eval_n": int, "progress": bool, "logger": str,
    "extra": dict, "conditional": bool,
}


def _coerce(key: str, value: Any, source: str) -> Any:
    """Accept what TOML/YAML give for a field (ints for floats, lists for tuples); refuse the rest."""
    want = _TYPES[key]
    if value is None:
        return None
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if want is tuple and isinstance(value, list):
        value = tuple(value)
    if want is int and isinstance(value, bool) or not isinstance(value, want):
        name = want.__name__ if isinstance(want, type) else str(want)
        raise GanforgeError(f"{source}: field '{key}' must be {_article(name)}, got {value!r}")
    return value


def _article(type_name: str) -> str:
    return {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false",
            "tuple": "a list of two numbers", "dict": "a table"}.get(type_name, type_name)


def _positive_int(name: str, v: Any) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        raise GanforgeError(f"{name} must be a positive integer, got {v!r}")


def _non_negative_int(name: str, v: Any) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise GanforgeError(f"{name} must be a non-negative integer, got {v!r}")


def _seed(name: str, v: Any) -> None:
    # Seeds are combined with step and epoch numbers (training.py), so keep them far below torch's 2**64 limit.
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_SEED:
        raise GanforgeError(f"{name} must be an integer from 0 to {MAX_SEED}, got {v!r}")


def _positive_float(name: str, v: Any) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not (v > 0 and v < float("inf")):
        raise GanforgeError(f"{name} must be a positive number, got {v!r}")


def _one_of(*choices: str):
    def check(name: str, v: Any) -> None:
        if v not in choices:
            raise GanforgeError(f"{name} must be one of {', '.join(choices)}; got {v!r}")
    return check


def _non_negative_float(name: str, v: Any) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not (v >= 0 and v < float("inf")):
        raise GanforgeError(f"{name} must be a non-negative number, got {v!r}")


def _betas(name: str, v: Any) -> None:
    ok = (isinstance(v, (tuple, list)) and len(v) == 2
          and all(isinstance(b, (int, float)) and not isinstance(b, bool) and 0 <= b < 1 for b in v))
    if not ok:
        raise GanforgeError(f"{name} must be two numbers in [0, 1), e.g. 0.5 0.999; got {v!r}")


def _momentum(name: str, v: Any) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 1:
        raise GanforgeError(f"{name} must be a number in [0, 1), got {v!r}")


def _device(name: str, v: Any) -> None:
    if not isinstance(v, str) or not (v in ("auto", "cpu", "cuda") or re.fullmatch(r"cuda:[0-9]+", v)):
        raise GanforgeError(f"{name} must be auto, cpu, cuda or cuda:N; got {v!r}")


def _preset(name: str, v: Any) -> None:
    from .presets import get_preset

    get_preset(v)


def _loss(name: str, v: Any) -> None:
    from .losses import LOSSES

    if v not in LOSSES:
        raise GanforgeError(f"unknown loss {v!r}; choose one of: {', '.join(LOSSES)}")


def _augment(name: str, v: Any) -> None:
    from .augment import parse_augment

    if not isinstance(v, str):
        raise GanforgeError(f"{name} must be a string such as 'translation,cutout,color' or 'none', got {v!r}")
    parse_augment(v)


def _logger(name: str, v: Any) -> None:
    from .loggers import check_logger_name

    check_logger_name(v)


def _accel(name: str, v: Any) -> None:
    from .accel import check_setting

    check_setting(v)


def _bool(name: str, v: Any) -> None:
    if not isinstance(v, bool):
        raise GanforgeError(f"{name} must be true or false, got {v!r}")


def _string(name: str, v: Any) -> None:
    if not isinstance(v, str) or not v:
        raise GanforgeError(f"{name} must be a non-empty string, got {v!r}")


_CHECKS = {
    "preset": _preset, "dataset": _string, "data_dir": _string, "steps": _positive_int, "conditional": _bool,
    "epochs": _positive_int, "batch_size": _positive_int, "z_dim": _positive_int,
    "optimizer": _one_of("adam", "sgd"), "lr_g": _positive_float, "lr_d": _positive_float,
    "betas": _betas, "momentum": _momentum, "loss": _loss,
    "d_update": _one_of("sum", "concat", "separate", "simultaneous"), "d_steps": _positive_int,
    "g_noise": _one_of("fresh", "reuse"),
    "init": _one_of("keras", "dcgan", "torch"), "ema_kimg": _non_negative_float,
    "r1_gamma": _non_negative_float, "r1_every": _positive_int, "gp_weight": _non_negative_float,
    "spectral_norm": _one_of("none", "d", "gd"), "augment": _augment,
    "lr_schedule": _one_of("constant", "linear", "cosine"), "lr_decay_steps": _positive_int, "pack": _positive_int,
    "seed": _seed, "device": _device, "precision": _one_of("fp32", "bf16"),
    "compile": _one_of("auto", "none", "default", "reduce-overhead", "max-autotune"),
    "channels_last": _one_of("auto", "on", "off"), "accel": _accel, "max_bad_steps": _positive_int,
    "out": _string, "log_every": _positive_int, "grid_every": _positive_int,
    "grid_size": _positive_int, "checkpoint_every": _positive_int, "eval_every": _positive_int,
    "eval_metric": _string, "eval_n": _positive_int, "logger": _logger,
}
