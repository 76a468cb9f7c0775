"""The training configuration: every field written once, with its type, check, choices and help.

Two views of the one field list:

- :class:`RunConfig` is a run's complete, frozen configuration: every field holds the value the run
  uses (``None`` only where it means "none", such as no evaluation). It is what ``config.json`` holds,
  and alone it rebuilds the run's models. ``ganforge.resolve`` makes it.
- :class:`TrainConfig` is a request: the same fields, each ``None`` until the user sets it. Command-line
  flags, config files and the Python API fill one in; resolution completes it from the preset, the
  built-in defaults and what the data says.

The command-line flags of ``ganforge train`` are made from these fields (``cli_flags``), so a new
field is one entry here.
"""

from __future__ import annotations

import dataclasses
import json
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from . import argtypes
from .accel import check_setting as check_accel
from .accel.settings import CHANNELS_LAST, COMPILE_MODES, PRECISIONS
from .augment import ORDER as AUGMENTATIONS
from .augment import parse_augment
from .data.convert import FITS
from .errors import GanforgeError
from .loggers import LOGGERS
from .losses import LOSSES
from .models.layers import INIT_SCHEMES
from .penalties import SPECTRAL_NORM_CHOICES
from .schedule import SCHEDULES
from .updates import UPDATE_RULES

DEFAULT_PRESET = "dcgan-28-fast"
DEFAULT_DATASET = "mnist"
MAX_SEED = 2**32 - 1
CONFIG_VERSION = 3  # config.json's layout; earlier ones are read through ganforge.run.migrate
OPTIMIZERS = ("adam", "sgd")
G_NOISE = ("fresh", "reuse", "same")


class _Required:
    """The default of a field that resolution always works out (the preset's, or one derived)."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


# ---- checks: each refuses a value in one line naming the field -----------------------------------------------

@dataclass(frozen=True)
class Check:
    wording: str  # "a positive integer"
    ok: Callable[[Any], bool]
    argtype: Callable[[str], Any] | None = None  # the command line's parser of the flag's text

    def __call__(self, name: str, value: Any) -> None:
        if not self.ok(value):
            raise GanforgeError(f"{name} must be {self.wording}, got {value!r}")


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


POSITIVE_INT = Check("a positive integer", lambda v: _int(v) and v > 0, argtypes.positive_int)
NON_NEGATIVE_INT = Check("a non-negative integer", lambda v: _int(v) and v >= 0, argtypes.non_negative_int)
POSITIVE = Check("a positive number", lambda v: _num(v) and 0 < v < float("inf"), argtypes.positive_float)
NON_NEGATIVE = Check("a non-negative number", lambda v: _num(v) and 0 <= v < float("inf"),
                     argtypes.non_negative_float)
UNIT = Check("a number in [0, 1)", lambda v: _num(v) and 0 <= v < 1, float)
SEED = Check(f"an integer from 0 to {MAX_SEED}", lambda v: _int(v) and 0 <= v <= MAX_SEED, argtypes.non_negative_int)
TEXT = Check("a non-empty string", lambda v: isinstance(v, str) and bool(v))
BOOL = Check("true or false", lambda v: isinstance(v, bool))
BETAS = Check("two numbers in [0, 1), e.g. 0.5 0.999",
              lambda v: isinstance(v, (tuple, list)) and len(v) == 2 and all(_num(b) and 0 <= b < 1 for b in v))
DEVICE = Check("auto, cpu, cuda or cuda:N",
               lambda v: isinstance(v, str) and (v in ("auto", "cpu", "cuda") or bool(re.fullmatch(r"cuda:[0-9]+", v))))
CHANNELS = Check("1 (grey) or 3 (colour)", lambda v: v in (1, 3) and _int(v), argtypes.positive_int)
TABLE = Check("a table of options", lambda v: isinstance(v, dict))
NAMES = Check("a list of names", lambda v: isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v))
CLUSTERS = Check("an integer of at least 2", lambda v: _int(v) and v >= 2, argtypes.positive_int)
SHARES = Check("a list of fractions that add up to 1",
               lambda v: isinstance(v, (list, tuple)) and bool(v) and all(_num(x) and 0 <= x <= 1 for x in v)
               and abs(sum(v) - 1) < 1e-6)


class OneOf:
    """A choice among names: a fixed list, or a registry's keys read when checked (so it is never stale)."""

    def __init__(self, choices: Callable[[], Sequence[str]] | Sequence[str]) -> None:
        self.get: Callable[[], Sequence[str]] = choices if callable(choices) else (lambda: tuple(choices))

    def __call__(self, name: str, value: Any) -> None:
        if value not in self.get():
            raise GanforgeError(f"{name} must be one of {', '.join(self.get())}; got {value!r}")


one_of = OneOf


def _augment(name: str, value: Any) -> None:
    if not isinstance(value, str):
        raise GanforgeError(f"{name} must be a string such as 'translation,cutout,color' or 'none', got {value!r}")
    parse_augment(value)


def _accel(name: str, value: Any) -> None:
    check_accel(value)


# ---- the fields -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Spec:
    """A field's metadata. ``default`` is the built-in value when neither the user nor the preset gives one
    (REQUIRED: resolution works it out); ``flag`` False keeps it off the command line."""

    kind: type  # int, float, str, bool, tuple (a pair), dict, list
    help: str
    check: Callable[[str, Any], None] | None = None
    default: Any = REQUIRED
    nullable: bool = False  # None is a value ("none", "off")
    flag: bool = True
    metavar: str | None = None
    resumable: bool = False  # may be given again when a run resumes

    @property
    def choices(self) -> Sequence[str] | None:
        return tuple(self.check.get()) if isinstance(self.check, OneOf) else None


def opt(kind: type, help: str, check: Callable[[str, Any], None] | None = None, **spec: Any) -> Any:
    return field(metadata={"spec": Spec(kind, help, check, **spec)})


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """A run's complete configuration (see the module docstring). Construct it with ``ganforge.resolve``."""

    # What is trained on what
    preset: str = opt(str, "model recipe (see 'ganforge presets')", TEXT, default=DEFAULT_PRESET)
    dataset: str = opt(str, "mnist, fashion-mnist, mnist-sample, stacked-mnist or folder:PATH", TEXT,
                       default=DEFAULT_DATASET)
    data_dir: str | None = opt(str, "folder holding mnist/ and fashion-mnist/ (else $GANFORGE_DATA_DIR)", TEXT,
                               default=None, nullable=True)
    channels: int = opt(int, "image channels: 1 grey or 3 colour (default: the preset's)", CHANNELS)
    resolution: int = opt(int, "image side in pixels (default: the preset's)", POSITIVE_INT)
    fit: str = opt(str, "how images become squares: crop (shorter side resized, centre-cropped) or resize (the "
                        "whole image squeezed)", one_of(FITS), default="crop")
    mirror: bool = opt(bool, "horizontal flips of the real images: the dataset becomes twice as large", BOOL,
                       default=False)
    conditional: bool = opt(bool, "class-conditional G and D, classes from the dataset's labels", BOOL, default=False)
    num_classes: int | None = opt(int, "classes of a conditional run (from the data)", POSITIVE_INT, nullable=True,
                                  flag=False)
    class_names: list[str] | None = opt(list, "the classes' names (from the data)", NAMES, nullable=True, flag=False)
    clusters: int | None = opt(int, "self-conditioning: G and D conditioned on K clusters that k-means finds in the "
                                    "images, not on labels; samples draw a cluster as often as it occurs, so the "
                                    "model stays unconditional", CLUSTERS, default=None, nullable=True, metavar="K")
    cluster_shares: list[float] | None = opt(list, "each cluster's share of the images (from the data)", SHARES,
                                             nullable=True, flag=False)
    extra: dict[str, Any] = opt(dict, "architecture options of the preset, such as width", TABLE, flag=False)
    # How long
    steps: int = opt(int, "total steps of the run (resume counts on to it)", POSITIVE_INT, resumable=True)
    epochs: int | None = opt(int, "total epochs of the run (sets steps from the dataset size)", POSITIVE_INT,
                             nullable=True, default=None, resumable=True)
    batch_size: int = opt(int, "images per step (the global batch over all processes)", POSITIVE_INT)
    # The models and their updates
    z_dim: int = opt(int, "latent size", POSITIVE_INT)
    init: str = opt(str, "weight initialisation", one_of(INIT_SCHEMES), default="torch")
    spectral_norm: str = opt(str, "spectral normalisation of D or of G and D", one_of(SPECTRAL_NORM_CHOICES),
                             default="none")
    pack: int = opt(int, "PacGAN: D judges this many samples at once, stacked on channels (1 = off)",
                    POSITIVE_INT, default=1, metavar="M")
    optimizer: str = opt(str, "optimiser of G and D", one_of(OPTIMIZERS), default="adam")
    lr_g: float = opt(float, "generator learning rate", POSITIVE)
    lr_d: float = opt(float, "discriminator learning rate", POSITIVE)
    betas: tuple[float, float] = opt(tuple, "Adam betas", BETAS, default=(0.9, 0.999), metavar=("B1", "B2"))
    momentum: float = opt(float, "SGD momentum", UNIT, default=0.0)
    lr_schedule: str = opt(str, "learning-rate decay over the run", one_of(SCHEDULES), default="constant",
                           resumable=True)
    lr_decay_steps: int | None = opt(int, "decay over the last N steps only, constant before (default: the whole "
                                          "run); with --resume, adds such a decay to a constant-rate run",
                                     POSITIVE_INT, default=None, nullable=True, metavar="N", resumable=True)
    loss: str = opt(str, "GAN loss", one_of(lambda: tuple(LOSSES)), default="bce")
    d_update: str = opt(str, "how D and G updates interleave", one_of(lambda: tuple(UPDATE_RULES)), default="sum")
    d_steps: int = opt(int, "D updates per G update", POSITIVE_INT, default=1)
    g_eval_for_d: bool = opt(bool, "make D's fakes with G in inference mode (Keras predict())", BOOL, default=False,
                             flag=False)
    g_noise: str = opt(str, "G's step on fresh noise; on the D step's noise, G run again (reuse, the Keras MLP-Adam "
                            "loop); or on the D step's very fakes, one G forward (same, PyTorch's DCGAN example)",
                       one_of(G_NOISE), default="fresh")
    ema_kimg: float = opt(float, "half-life of the EMA of G's weights in thousands of images (0 = off); sampling "
                                 "uses the EMA when on", NON_NEGATIVE, default=0.0)
    r1_gamma: float = opt(float, "R1 penalty weight on real images (0 = off)", NON_NEGATIVE, default=0.0)
    r1_every: int = opt(int, "lazy R1: apply it every N D steps, scaled by N", POSITIVE_INT, default=1)
    r2_gamma: float = opt(float, "R2 penalty weight on generated images (0 = off)", NON_NEGATIVE, default=0.0)
    gp_weight: float = opt(float, "WGAN-GP gradient penalty weight (0 = off)", NON_NEGATIVE, default=0.0)
    augment: str = opt(str, f"DiffAugment for D's inputs: none or a comma list of {','.join(AUGMENTATIONS)}",
                       _augment, default="none")
    # Where and how it runs
    seed: int = opt(int, "random seed of the run", SEED, default=0)
    device: str = opt(str, "auto, cpu, cuda or cuda:N", DEVICE, default="auto", resumable=True)
    precision: str = opt(str, "fp32, or bf16 autocast of the forward passes (changes the rounding)",
                         one_of(PRECISIONS), default="fp32")
    compile: str = opt(str, "torch.compile mode for G and D (auto: on GPUs only)", one_of(COMPILE_MODES),
                       default="auto")
    channels_last: str = opt(str, "NHWC memory layout for convolutions (auto: on for conv nets)",
                             one_of(CHANNELS_LAST), default="auto")
    accel: str = opt(str, "CPU speed tricks: auto (each where it wins), off, or a comma list (see docs)", _accel,
                     default="auto")
    max_bad_steps: int = opt(int, "stop after this many steps in a row with a NaN/Inf loss or gradient",
                             POSITIVE_INT, default=20)
    # What it writes
    out: str | None = opt(str, "run folder (default runs/PRESET-DATASET-TIME)", TEXT, default=None, nullable=True)
    log_every: int = opt(int, "steps between log lines", POSITIVE_INT, default=50)
    grid_every: int = opt(int, "steps between sample grids (default: a tenth of the run)", POSITIVE_INT)
    grid_size: int = opt(int, "the sample grid is N x N images", POSITIVE_INT, default=5)
    checkpoint_every: int = opt(int, "steps between checkpoints (default: as grids)", POSITIVE_INT)
    eval_every: int | None = opt(int, "evaluate every N steps and keep a 'best' checkpoint (default: never)",
                                 POSITIVE_INT, default=None, nullable=True)
    eval_metric: str = opt(str, "metric for --eval-every (see 'ganforge eval -h')", TEXT, default="domain-fid")
    eval_n: int = opt(int, "images per evaluation during training", POSITIVE_INT, default=5000)
    logger: str = opt(str, "also log to TensorBoard (RUN_DIR/tensorboard/)", one_of(lambda: tuple(LOGGERS)),
                      default="none")
    progress: bool = opt(bool, "show a progress bar", BOOL, default=True, flag=False)

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            s = spec(f.name)
            if value is None and not s.nullable:
                raise GanforgeError(f"config field {f.name} has no value")
            if value is not None:
                check_value(f.name, value)
        check_combination(self)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["betas"] = list(d["betas"])
        return {"config_version": CONFIG_VERSION, **d}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def replace(self, **changes: Any) -> RunConfig:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "config") -> RunConfig:
        values = coerce_all({k: v for k, v in data.items() if k != "config_version"}, source)
        missing = [f.name for f in fields(cls) if f.name not in values]
        if missing:
            raise GanforgeError(f"{source}: incomplete run config, missing {', '.join(missing)}")
        try:
            return cls(**values)
        except GanforgeError as e:
            raise GanforgeError(f"{source}: {e}") from None


def spec(name: str) -> Spec:
    return _SPECS[name]


def specs() -> Iterator[tuple[str, Spec]]:
    return iter(_SPECS.items())


_SPECS: dict[str, Spec] = {f.name: f.metadata["spec"] for f in fields(RunConfig)}
FIELD_NAMES = tuple(_SPECS)


def check_value(name: str, value: Any) -> None:
    check = _SPECS[name].check
    if check is not None:
        check(name, value)


def check_combination(c: RunConfig) -> None:
    """What each field allows depends on others: refuse combinations that cannot train, in one line."""
    rule, loss = UPDATE_RULES[c.d_update], LOSSES[c.loss]
    penalties = [n for n in ("r1_gamma", "r2_gamma", "gp_weight") if getattr(c, n)]
    if penalties and not rule.penalties:
        raise GanforgeError(f"{' and '.join(penalties)} need a separate D step; use d_update sum, concat or "
                            f"separate, not {c.d_update}")
    if c.d_steps > 1 and not rule.takes_d_steps:
        raise GanforgeError(f"d_steps {c.d_steps} needs a D step of its own; d_update {c.d_update} updates G and D "
                            f"together (use sum, concat or separate)")
    if rule.separate_d_halves and not loss.separable:
        raise GanforgeError(f"loss {c.loss} pairs real and fake logits, and d_update {c.d_update} updates D on them "
                            f"apart; use d_update sum, concat or simultaneous")
    if c.conditional and c.pack > 1:
        # A projection D adds one class embedding per image; a pack of m images has m labels.
        raise GanforgeError(f"pack {c.pack} does not work with a conditional run (the projection D takes one "
                            f"label per image); use pack 1 or drop --conditional")
    if c.clusters is not None and c.conditional:
        raise GanforgeError(f"clusters {c.clusters} conditions on clusters found without labels; drop --conditional "
                            "(or drop --clusters to condition on the dataset's labels)")
    if c.clusters is not None and c.pack > 1:
        raise GanforgeError(f"pack {c.pack} does not work with clusters (the projection D takes one cluster per "
                            "image); use pack 1 or drop --clusters")
    if c.clusters is not None and (c.num_classes != c.clusters or len(c.cluster_shares or ()) != c.clusters):
        raise GanforgeError(f"a config with clusters {c.clusters} needs num_classes and cluster_shares for as many "
                            "clusters (resolution takes them from the data)")
    if c.conditional and c.num_classes is None:
        raise GanforgeError("a conditional config needs num_classes (resolution takes it from the dataset's labels)")
    if c.lr_decay_steps is not None and c.lr_schedule == "constant":
        raise GanforgeError(f"lr_decay_steps {c.lr_decay_steps} needs a decaying lr_schedule (linear or cosine); "
                            f"preset '{c.preset}' keeps the rate constant unless lr_schedule is set")
    if c.lr_decay_steps is not None and c.lr_decay_steps > c.steps:
        raise GanforgeError(f"lr_decay_steps {c.lr_decay_steps} is more than the run's {c.steps} steps; give at most "
                            f"{c.steps}, or leave it unset to decay over the whole run")


# ---- the request -------------------------------------------------------------------------------------------

class _Request:
    """Methods of :class:`TrainConfig`; its fields are RunConfig's, each None until set."""

    def given(self) -> dict[str, Any]:
        """The fields the user set."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    def validate(self) -> None:
        for name, value in self.given().items():
            check_value(name, value)
        if self.steps is not None and self.epochs is not None:  # type: ignore[attr-defined]
            raise GanforgeError(f"give steps or epochs, not both (got steps={self.steps}, "  # type: ignore[attr-defined]
                                f"epochs={self.epochs})")  # type: ignore[attr-defined]

    def to_dict(self) -> dict[str, Any]:
        d = self.given()
        if "betas" in d:
            d["betas"] = list(d["betas"])
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "config") -> TrainConfig:
        request = cls(**coerce_all(data, source))
        request.validate()
        return request  # type: ignore[return-value]

    @classmethod
    def from_file(cls, path: str | Path) -> TrainConfig:
        return cls.from_dict(read_config_file(path), source=str(path))


TrainConfig = dataclasses.make_dataclass(
    "TrainConfig", [(f.name, Any, field(default=None, metadata=f.metadata)) for f in fields(RunConfig)],
    bases=(_Request,), namespace={"__doc__": "A training request: RunConfig's fields, each None until set. "
                                             "``ganforge.Trainer(TrainConfig(preset=..., steps=...))`` trains it."})
TrainConfig.__module__ = __name__


def coerce_all(data: Mapping[str, Any], source: str) -> dict[str, Any]:
    out = {}
    for raw_key, value in data.items():
        key = str(raw_key).replace("-", "_")
        if key not in _SPECS:
            raise GanforgeError(f"{source}: unknown field '{raw_key}'; valid fields: {', '.join(sorted(_SPECS))}")
        out[key] = coerce(key, value, source)
    return out


def coerce(key: str, value: Any, source: str) -> Any:
    """Accept what TOML/YAML give for a field (ints for floats, lists for pairs); refuse the rest."""
    want = _SPECS[key].kind
    if value is None:
        return None
    if want is float and _int(value):
        return float(value)
    if want is tuple and isinstance(value, list):
        value = tuple(value)
    if want is list and isinstance(value, tuple):
        value = list(value)
    if (want is int and isinstance(value, bool)) or not isinstance(value, want):
        article = {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false",
                   "tuple": "a list of two numbers", "dict": "a table", "list": "a list"}[want.__name__]
        raise GanforgeError(f"{source}: field '{key}' must be {article}, got {value!r}")
    return value


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
