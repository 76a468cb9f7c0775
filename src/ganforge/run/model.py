"""A trained generator ready to sample: from a run folder (its last or a named checkpoint) or a pretrained folder."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from PIL import Image
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from ..checkpoint import Checkpoint
from ..config import RunConfig
from ..device import resolve_device
from ..errors import GanforgeError
from ..images import to_pil, to_uint8
from ..models.clusters import sampling_generator, sampling_z_dim
from ..models.conditional import call, num_classes_of
from ..presets import Preset, build_generator, get_preset
from .folder import checkpoint_path, config_from_dict
from .folder import read_config as read_run_config
from .pretrained import CONFIG_FILE, MODEL_FILE, read_config, resolve_folder, save_pretrained
from .shipped import is_shipped_ref, shipped_name_of, shipped_path

_LABEL_STREAM = 7_919  # offset of the seed for drawn classes, so they do not track the latents


class Run:
    """A run folder: its config and a generator ready to sample.

    >>> run = load_run("runs/dcgan-28-fast-mnist-20261123-101500")
    >>> images = run.generate(16, seed=0)      # uint8 tensor, 16 x 1 x 28 x 28
    >>> pictures = run.sample_pil(16, seed=0)  # PIL images
    """

    shipped: str | None = None  # "pretrained:NAME" for a generator that ships inside ganforge

    def __init__(self, path: Path, config: RunConfig, generator: nn.Module, device: torch.device, step: int,
                 checkpoint: Path) -> None:
        self.path, self.config = path, config
        self.generator, self.device, self.step, self.checkpoint = generator, device, step, checkpoint

    @property
    def name(self) -> str:
        """How to name this run to a user: ``pretrained:NAME`` for a shipped generator, else its folder's name."""
        return self.shipped or self.path.name

    @property
    def outputs_dir(self) -> Path:
        """Where commands write what they make from this run unless told (samples, exports, metrics): the run
        folder; for a shipped generator (package data, perhaps read-only) a folder named after it here."""
        return Path(self.shipped.replace(":", "-")) if self.shipped else self.path

    @property
    def preset(self) -> Preset:
        return get_preset(self.config.preset)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.config.channels, self.config.resolution, self.config.resolution)

    @property
    def z_dim(self) -> int:
        """The latent size; a self-conditioned run's has one more coordinate, which picks the cluster."""
        return sampling_z_dim(int(self.config.z_dim), self.config.clusters)

    @property
    def num_classes(self) -> int | None:
        """The number of classes of a class-conditional run; None when it is unconditional."""
        return num_classes_of(self.generator)

    @property
    def class_names(self) -> list[str] | None:
        """The dataset's class names (index order) for a conditional run, when the dataset has names."""
        names = self.config.class_names if self.num_classes else None
        return [str(x) for x in names] if names else None

    def class_index(self, value: str | int) -> int:
        """A class given by name or by index (a name wins where a name is also a number)."""
        if self.num_classes is None:
            raise GanforgeError(f"run '{self.path}' is unconditional (trained without --conditional); "
                                "it takes no class")
        names = self.class_names or []
        if isinstance(value, str) and value in names:
            return names.index(value)
        try:
            index = int(value)
        except ValueError:
            index = -1
        if not 0 <= index < self.num_classes:
            numbered = names == [str(i) for i in range(self.num_classes)]  # MNIST: the names are the indices
            named = f" or one of: {', '.join(names)}" if names and not numbered else ""
            raise GanforgeError(f"unknown class {value!r}; give an index from 0 to {self.num_classes - 1}{named}")
        return index

    def random_labels(self, n: int, seed: int = 0) -> torch.Tensor:
        """Classes for ``seed``, uniform and deterministic, from a stream apart from the latents'."""
        if self.num_classes is None:
            raise GanforgeError(f"run '{self.path}' is unconditional; it has no classes")
        gen = torch.Generator().manual_seed(seed + _LABEL_STREAM)
        return torch.randint(self.num_classes, (n,), generator=gen)

    def _labels_for(self, n: int, seed: int, labels: torch.Tensor | None) -> torch.Tensor | None:
        if labels is None:
            return self.random_labels(n, seed) if self.num_classes else None
        if self.num_classes is None:
            raise GanforgeError(f"run '{self.path}' is unconditional (trained without --conditional); "
                                "it takes no class labels")
        labels = torch.as_tensor(labels)
        if labels.dtype != torch.int64 or labels.shape != (n,):
            raise GanforgeError(f"labels must be an int64 tensor of length {n}, got {labels.dtype} "
                                f"{tuple(labels.shape)}")
        if n and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes):
            raise GanforgeError(f"labels must be class indices from 0 to {self.num_classes - 1}")
        return labels

    def noise(self, n: int, seed: int = 0) -> torch.Tensor:
        """The latent vectors for ``seed``: the same seed always gives the same images."""
        gen = torch.Generator().manual_seed(seed)
        return torch.randn(n, self.z_dim, generator=gen)

    @torch.no_grad()
    def generate(self, n: int, *, seed: int = 0, batch_size: int | None = None,
                 labels: torch.Tensor | None = None, z: torch.Tensor | None = None) -> torch.Tensor:
        """``n`` images as a uint8 tensor n x C x H x W on the CPU.

        ``labels`` (int64, length n) are the classes asked for from a conditional run; without them a
        conditional run draws its classes from ``seed`` (``random_labels``). ``batch_size`` defaults
        to 256 on the CPU and 8192 on a GPU (large batches keep a GPU busy; the images are the same).
        """
        if n <= 0:
            raise GanforgeError(f"number of images must be positive, got {n}")
        batch_size = batch_size or (8192 if self.device.type == "cuda" else 256)
        z = self.noise(n, seed) if z is None else z
        labels = self._labels_for(len(z), seed, labels)
        out = []
        for i, chunk in enumerate(z.split(batch_size)):
            y = None if labels is None else labels[i * batch_size:(i + 1) * batch_size].to(self.device)
            out.append(to_uint8(call(self.generator, chunk.to(self.device), y)).cpu())
        return torch.cat(out)

    def generate_float(self, n: int, *, seed: int = 0, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Raw generator output in [-1, 1] (float, n x C x H x W, CPU)."""
        labels = self._labels_for(n, seed, labels)
        with torch.no_grad():
            y = None if labels is None else labels.to(self.device)
            return call(self.generator, self.noise(n, seed).to(self.device), y).float().cpu()

    def sample_pil(self, n: int, *, seed: int = 0, labels: torch.Tensor | None = None) -> list[Image.Image]:
        return to_pil(self.generate(n, seed=seed, labels=labels))

    def save_pretrained(self, path: str | Path) -> Path:
        """Write the sampling generator as a shareable folder (config.json, model.safetensors, README.md)
        that ``ganforge.Generator.from_pretrained`` loads; see ``ganforge.run.pretrained``."""
        return save_pretrained(self, path)


def load_run_folder(path: Path, *, checkpoint: str = "last", device: str | None = None) -> Run:
    """A run folder's sampling generator (in inference mode) from its ``last`` (or named) checkpoint: the
    EMA of G when the run kept one (it samples better), else G."""
    config = read_run_config(path)
    ckpt_path = checkpoint_path(path, checkpoint)
    if not ckpt_path.is_file():
        raise GanforgeError(f"run '{path}' has no '{checkpoint}' checkpoint ({ckpt_path} is missing)")
    ckpt = Checkpoint(ckpt_path)
    ckpt.check_preset(config.preset)
    dev = resolve_device(device)
    g = build_generator(config, dev)
    ckpt.load_module("G_ema" if config.ema_kimg else "G", g)
    g = sampling_generator(g, config.cluster_shares).to(dev).eval()
    return Run(path, config, g, dev, int(ckpt.meta.get("step", 0)), ckpt_path)


class Generator(Run):
    """A generator loaded from a pretrained folder (or Hub repo): everything a :class:`Run` offers for
    sampling (``generate``, ``sample_pil``, ``num_classes``...), without the training files."""

    @classmethod
    def from_pretrained(cls, path_or_repo_id: str | os.PathLike[str], *, device: str | None = None) -> Generator:
        return load_pretrained(path_or_repo_id, device=device)


def load_pretrained(path_or_repo_id: str | os.PathLike[str], *, device: str | None = None) -> Generator:
    """Load a pretrained folder, ``pretrained:NAME`` (shipped with ganforge), or download a Hub repo id first; the
    generator is in inference mode."""
    shipped = str(path_or_repo_id) if is_shipped_ref(path_or_repo_id) else None
    path = shipped_path(shipped) if shipped else resolve_folder(path_or_repo_id)
    config = read_config(path)
    if not isinstance(config.get("train_config"), dict):
        raise GanforgeError(f"'{path / CONFIG_FILE}' has no 'train_config' table; "
                            f"it is not a ganforge pretrained folder")
    train_config = config_from_dict(config["train_config"], source=str(path / CONFIG_FILE))
    dev = resolve_device(device)
    generator = build_generator(train_config, dev)
    try:
        state = load_file(str(path / MODEL_FILE))
    except (SafetensorError, OSError) as e:
        raise GanforgeError(f"'{path / MODEL_FILE}' is not a readable safetensors file ({e})") from None
    try:
        generator.load_state_dict(state, strict=True)
    except RuntimeError as e:
        lines = str(e).splitlines()
        raise GanforgeError(f"'{path / MODEL_FILE}' does not fit preset {train_config.preset!r} "
                            f"({(lines[1] if len(lines) > 1 else lines[0]).strip()})") from None
    generator = sampling_generator(generator, train_config.cluster_shares).to(dev).eval()
    loaded = Generator(path, train_config, generator, dev, int(config.get("step", 0)), path / MODEL_FILE)
    loaded.shipped = shipped_name_of(path)
    return loaded
