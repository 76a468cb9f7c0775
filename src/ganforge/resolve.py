"""The one resolution step: a request (flags, config file, Python) plus what the data says -> a complete config.

Precedence, field by field: what the user set, else the preset's default, else the built-in default
(``config.Spec.default``). A few values follow from others: the run length in steps from epochs and the
dataset's size, the grid and checkpoint intervals from the run length, the class count and names from
the dataset's labels, the image shape from the preset. Those facts about the data are passed in
explicitly (:class:`DataFacts`), so nothing downstream ever writes into the config.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .config import DEFAULT_DATASET, DEFAULT_PRESET, REQUIRED, RunConfig, TrainConfig, spec, specs
from .data import ImageDataset, load_dataset
from .errors import GanforgeError
from .presets import Preset, get_preset

Log = Callable[[str], None]
DEFAULT_STEPS = 1000  # a preset that sets no run length


@dataclass(frozen=True)
class DataFacts:
    """What resolution needs to know of the loaded dataset."""

    name: str  # the dataset used, which a fallback can change (mnist -> mnist-sample)
    size: int  # images
    num_classes: int | None
    class_names: list[str] | None

    @classmethod
    def of(cls, dataset: ImageDataset) -> DataFacts:
        labelled = dataset.labels is not None and bool(dataset.num_classes)
        return cls(dataset.name, len(dataset), int(dataset.num_classes) if labelled else None,
                   list(dataset.class_names) if labelled and dataset.class_names is not None else None)


def preset_of(request: TrainConfig) -> Preset:
    return get_preset(request.preset or DEFAULT_PRESET)


def image_size(request: TrainConfig, preset: Preset) -> tuple[int, int]:
    """(channels, resolution) of the run: the user's where the preset's architecture can make it."""
    channels = request.channels if request.channels is not None else preset.image_shape[0]
    resolution = request.resolution if request.resolution is not None else preset.image_shape[1]
    if channels not in preset.supported_channels:
        raise GanforgeError(f"channels {channels}: preset '{preset.name}' makes images with "
                            f"{' or '.join(map(str, preset.supported_channels))} channels")
    if resolution not in preset.supported_resolutions:
        raise GanforgeError(f"resolution {resolution}: preset '{preset.name}' makes "
                            f"{' or '.join(f'{r}x{r}' for r in preset.supported_resolutions)} images")
    return channels, resolution


def load_for(request: TrainConfig, *, log: Log = print) -> tuple[Preset, ImageDataset]:
    """The request's preset and its dataset, loaded in the shape the run trains on."""
    preset = preset_of(request)
    channels, resolution = image_size(request, preset)
    dataset = load_dataset(request.dataset or DEFAULT_DATASET, data_dir=_absolute(request.data_dir),
                           channels=channels, size=resolution, log=log)
    return preset, dataset


def resolve(request: TrainConfig, facts: DataFacts) -> RunConfig:
    """The complete config of a run of ``request`` on data described by ``facts``."""
    request.validate()
    preset = preset_of(request)
    given = request.given()
    values: dict[str, Any] = {}
    for name, _ in specs():
        value = _pick(request, preset, name)
        if value is not REQUIRED:
            values[name] = value
    values["preset"] = preset.name
    values["extra"] = _extra(preset, given.get("extra") or {})
    values["dataset"] = facts.name
    values["data_dir"] = _absolute(request.data_dir)
    values["channels"], values["resolution"] = image_size(request, preset)
    values["num_classes"], values["class_names"] = _classes(values["conditional"], request, facts)
    values["steps"], values["epochs"] = _length(request, preset, facts, values)
    values.setdefault("grid_every", max(1, values["steps"] // 10))
    values.setdefault("checkpoint_every", values["grid_every"])
    return RunConfig(**values)


def preview(request: TrainConfig, name: str) -> Any:
    """What field ``name`` will resolve to, for one that does not depend on the data (the batch size, say),
    so a request can be refused before its dataset loads."""
    return _pick(request, preset_of(request), name)


def _pick(request: TrainConfig, preset: Preset, name: str) -> Any:
    """The user's value, else the preset's (the run length is one choice: see ``_length``), else the built-in
    default; REQUIRED when resolution works it out."""
    value = getattr(request, name)
    if value is not None:
        return value
    if name in preset.defaults and name not in ("steps", "epochs"):
        return preset.defaults[name]
    return spec(name).default


def resume_request(cfg: RunConfig, **changes: Any) -> TrainConfig:
    """A request that continues ``cfg``: every field as the run had it, with the ``changes`` given (not None).
    A new length in steps or epochs replaces the old one."""
    values = {f.name: getattr(cfg, f.name) for f in fields(cfg)}
    changes = {k: v for k, v in changes.items() if v is not None}
    if "steps" in changes or "epochs" in changes:
        values["steps"] = values["epochs"] = None
    elif cfg.epochs is not None:  # a length in epochs is counted in steps again from the data
        values["steps"] = None
    values.update(changes)
    return TrainConfig(**values)


def _absolute(data_dir: str | None) -> str | None:
    # Recorded absolute, so eval and resume work from any folder.
    return str(Path(data_dir).expanduser().resolve()) if data_dir else None


def _extra(preset: Preset, given: dict[str, Any]) -> dict[str, Any]:
    """The preset's architecture options with the user's on top; an option the preset does not have would be
    ignored without a word, so it is refused, as is a width that is not a positive integer."""
    options = preset.defaults.get("extra", {})
    for key, value in given.items():
        if key not in options:
            takes = (f"its options: {', '.join(sorted(options))}" if options
                     else "its architecture is fixed (no extra options)")
            raise GanforgeError(f"extra.{key}: preset '{preset.name}' has no option '{key}'; {takes}")
        if isinstance(options[key], int) and not (isinstance(value, int) and not isinstance(value, bool)
                                                  and value >= 1):
            raise GanforgeError(f"extra.{key} must be a positive integer for preset '{preset.name}', got {value!r}")
    return {**options, **given}


def _classes(conditional: bool, request: TrainConfig, facts: DataFacts) -> tuple[int | None, list[str] | None]:
    if not conditional:
        return None, None
    if facts.num_classes is None:
        raise GanforgeError(f"a conditional run needs class labels, and dataset '{facts.name}' has none; "
                            "use a labelled dataset (mnist, fashion-mnist, mnist-sample, stacked-mnist, or "
                            "folder:PATH with one sub-folder per class) or drop --conditional")
    if request.num_classes is not None and request.num_classes != facts.num_classes:
        # e.g. a resumed run whose image folder changed
        raise GanforgeError(f"this run was made for {request.num_classes} classes but dataset '{facts.name}' "
                            f"has {facts.num_classes}")
    return facts.num_classes, facts.class_names


def _length(request: TrainConfig, preset: Preset, facts: DataFacts, values: dict[str, Any]) -> tuple[int, int | None]:
    """(steps, epochs): the user's choice, else the preset's; epochs become steps through the dataset's size."""
    steps, epochs = request.steps, request.epochs
    if steps is None and epochs is None:
        steps, epochs = preset.defaults.get("steps"), preset.defaults.get("epochs")
    if steps is not None:
        return steps, None
    if epochs is None:
        return DEFAULT_STEPS, None
    batch = values["batch_size"]
    if facts.size < batch:
        raise GanforgeError(f"batch size {batch} is larger than dataset '{facts.name}' ({facts.size} images)")
    per_epoch = facts.size // batch  # the last incomplete batch of an epoch is dropped
    return math.ceil(epochs * per_epoch / values["d_steps"]), epochs
