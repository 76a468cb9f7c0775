"""The one resolution step: a request (flags, config file, Python) plus what the data says -> a complete config.

Precedence, field by field: what the user set, else the preset's default, else the built-in default
(``config.Spec.default``). A few values follow from others: the run length in steps from epochs and the
dataset's size, the grid and checkpoint intervals from the run length, the class count and names from
the dataset's labels, the image shape from the preset. Those facts about the data are passed in
explicitly (:class:`DataFacts`), so nothing downstream ever writes into the config.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch

from .config import DEFAULT_DATASET, DEFAULT_PRESET, REQUIRED, RunConfig, TrainConfig, spec, specs
from .data import FolderProbe, ImageDataset, StreamingDataset, load_dataset, probe_folder
from .data.clusters import with_clusters
from .data.registry import FOLDER_PREFIX
from .errors import GanforgeError
from .presets import PRESETS, Preset, get_preset

Log = Callable[[str], None]
DEFAULT_STEPS = 1000  # a preset that sets no run length


@dataclass(frozen=True)
class DataFacts:
    """What resolution needs to know of the loaded dataset."""

    name: str  # the dataset used, which a fallback can change (mnist -> mnist-sample)
    size: int  # images
    num_classes: int | None
    class_names: list[str] | None
    class_shares: list[float] | None = None  # each class's share of the images

    @classmethod
    def of(cls, dataset: ImageDataset | StreamingDataset) -> DataFacts:
        labelled = dataset.labels is not None and bool(dataset.num_classes)
        shares = None
        if labelled:
            counts = torch.bincount(dataset.labels, minlength=int(dataset.num_classes)).double()
            shares = [round(float(x), 8) for x in counts / counts.sum()]
        return cls(dataset.name, len(dataset), int(dataset.num_classes) if labelled else None,
                   list(dataset.class_names) if labelled and dataset.class_names is not None else None, shares)


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


def load_for(request: TrainConfig, *, explain: bool = True, streaming: bool = True,
             log: Log = print) -> tuple[TrainConfig, ImageDataset | StreamingDataset]:
    """The request with its preset chosen (``choose_preset``), and its dataset loaded in the shape the run
    trains on; ``streaming``: a folder too big for memory may come back as a stream."""
    request.validate()  # before the data is read, and clustered
    request = choose_preset(request, explain=explain, log=log)
    channels, resolution = image_size(request, preset_of(request))
    dataset = load_dataset(request.dataset or DEFAULT_DATASET, data_dir=_absolute(request.data_dir),
                           channels=channels, size=resolution, fit=_pick(request, preset_of(request), "fit"),
                           streaming=streaming, log=log)
    if request.clusters is not None:
        dataset = with_clusters(dataset, request.clusters, log=log)
    return request, dataset


def choose_preset(request: TrainConfig, *, explain: bool = True, log: Log = print) -> TrainConfig:
    """The request, with a preset chosen when none is given and the dataset is a folder, said in one line:
    among the presets marked ``cpu_default``, one that makes the folder's kind of images (colour or grey, or
    the ``channels`` asked for) at the resolution nearest theirs (or the ``resolution`` asked for). With a
    preset given, a folder whose images it changes much (colour to grey, a resize by more than 2x) gets a
    line saying so (when ``explain``). Other datasets: the request as it is."""
    dataset = request.dataset or DEFAULT_DATASET
    if not dataset.startswith(FOLDER_PREFIX) or (request.preset is not None and not explain):
        return request
    probe = probe_folder(dataset[len(FOLDER_PREFIX):])
    if request.preset is not None:
        channels, resolution = image_size(request, preset_of(request))
        change = _change(probe, channels, resolution)
        if change:
            log(f"{request.preset} makes {resolution}x{resolution} {_tone(channels)} images: your "
                f"{probe.size_text} {probe.tone} images are {change}")
        return request
    want = request.channels or (3 if probe.is_colour else 1)
    fits = [(abs(math.log(r / max(probe.short_side, 1))), r, i, p) for i, p in enumerate(PRESETS.values())
            if p.cpu_default and want in p.supported_channels for r in p.supported_resolutions
            if request.resolution in (None, r)]
    if fits:  # nearest on a log scale (48 px is nearer 64 than 32); a tie goes to the smaller, cheaper side
        _, resolution, _, preset = min(fits, key=lambda f: f[:3])
        chosen = dataclasses.replace(request, preset=preset.name, channels=want, resolution=resolution)
        note = ""
    else:  # e.g. no colour preset for CPUs registered: the default, which says what it does to the images
        preset = get_preset(DEFAULT_PRESET)
        chosen = dataclasses.replace(request, preset=preset.name)
        at = f" at {request.resolution}x{request.resolution}" if request.resolution else ""
        note = f"; no preset for CPUs makes {_tone(want)} images{at}"
    channels, resolution = image_size(chosen, preset)
    change = _change(probe, channels, resolution)
    log(f"{dataset} holds {probe.describe()}: training {preset.name} ({resolution}x{resolution} "
        f"{'RGB' if channels == 3 else 'grey'}{note})" + (f"; your images are {change}" if change else "")
        + "; choose another with --preset")
    return chosen


def _tone(channels: int) -> str:
    return "colour" if channels == 3 else "grey"


def _change(probe: FolderProbe, channels: int, resolution: int) -> str:
    """What becomes of the probed images at ``channels`` x ``resolution``, when it is much: "turned grey and
    shrunk 2.3x"; "" otherwise."""
    steps = []
    if channels == 1 and probe.is_colour:
        steps.append("turned grey")
    factor = probe.short_side / resolution
    if factor > 2:
        steps.append(f"shrunk {factor:.1f}x")
    elif 0 < factor < 0.5:
        steps.append(f"enlarged {1 / factor:.1f}x")
    return " and ".join(steps)


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
    if values["clusters"] is not None and request.conditional is None:
        values["conditional"] = False  # a conditional preset conditions on the clusters instead of the labels
    values["num_classes"], values["class_names"] = _classes(values["conditional"], request, facts)
    if values["clusters"] is not None:  # conditioned on the clusters the data was given (see load_for)
        values["num_classes"], values["cluster_shares"] = facts.num_classes, facts.class_shares
    else:
        values["cluster_shares"] = None
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
    batch, size = values["batch_size"], facts.size * (2 if values["mirror"] else 1)  # mirror: flipped copies too
    if size < batch:
        raise GanforgeError(f"batch size {batch} is larger than dataset '{facts.name}' ({size} images)")
    per_epoch = size // batch  # the last incomplete batch of an epoch is dropped
    return math.ceil(epochs * per_epoch / values["d_steps"]), epochs
