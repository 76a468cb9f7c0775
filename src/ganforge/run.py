"""A finished (or running) training run, loaded from its folder for sampling and evaluation."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from PIL import Image
from torch import nn

from . import accel
from .checkpoint import Checkpoint
from .config import TrainConfig
from .errors import GanforgeError
from .images import to_pil, to_uint8
from .models.conditional import call, num_classes_of
from .presets import Preset, get_preset
from .training import LAST_CHECKPOINT, build_models, load_run_config, resolve_device

_LABEL_STREAM = 7_919  # offset of the seed for drawn classes, so they do not track the latents


class Run:
    """A run folder: its config and a generator ready to sample.

    >>> run = load_run("runs/dcgan-28-fast-mnist-20261123-101500")
    >>> images = run.generate(16, seed=0)      # uint8 tensor, 16 x 1 x 28 x 28
    >>> pictures = run.sample_pil(16, seed=0)  # PIL images
    """

    def __init__(self, path: Path, config: TrainConfig, preset: Preset, generator: nn.Module,
                 device: torch.device, step: int, checkpoint: Path) -> None:
        self.path, self.config, self.preset = path, config, preset
        self.generator, self.device, self.step, self.checkpoint = generator, device, step, checkpoint

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.preset.image_shape

    @property
    def z_dim(self) -> int:
        return int(self.config.z_dim)

    @property
    def num_classes(self) -> int | None:
        """The number of classes of a class-conditional run; None when it is unconditional."""
        return num_classes_of(self.generator)

    @property
    def class_names(self) -> list[str] | None:
        """The dataset's class names (index order) for a conditional run, when the dataset has names."""
        names = self.config.extra.get("class_names") if self.num_classes else None
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
        that ``ganforge.Generator.from_pretrained`` loads; see ``ganforge.hub``."""
        from .hub import save_pretrained

        return save_pretrained(self, path)


def sampling_plan(config: TrainConfig, device: torch.device) -> accel.AccelPlan:
    """The run's accel setting for sampling on ``device``, without the allocator's process-wide setting
    (a sampling or serving process has no training steps to keep memory for)."""
    return dataclasses.replace(accel.plan(config.accel or "auto", device), allocator=False)


def load_run(path: str | Path, *, checkpoint: str = "last", device: str | None = None) -> Run:
    """Load a run folder's generator (in inference mode) from its ``last`` (or named) checkpoint."""
    path = Path(path)
    if (path / "model.safetensors").is_file() and not (path / "checkpoints").is_dir():
        from .hub import load_pretrained  # a pretrained folder (save_pretrained) samples like a run

        if checkpoint != "last":
            raise GanforgeError(f"'{path}' is a pretrained folder with one generator; it has no '{checkpoint}' "
                                "checkpoint")
        return load_pretrained(path, device=device)
    config = load_run_config(path)
    preset = get_preset(config.preset)
    ckpt_path = path / LAST_CHECKPOINT if checkpoint == "last" else path / "checkpoints" / f"{checkpoint}.safetensors"
    if not ckpt_path.is_file():
        raise GanforgeError(f"run '{path}' has no '{checkpoint}' checkpoint ({ckpt_path} is missing)")
    ckpt = Checkpoint(ckpt_path)
    ckpt.check_preset(config.preset)
    dev = resolve_device(device or "auto")
    g, _ = build_models(config, preset)
    # The EMA generator, when the run kept one, is the better sampler.
    ckpt.load_module("G_ema" if ckpt.has("G_ema") else "G", g)
    g.to(dev).eval()
    accel.apply(sampling_plan(config, dev), g)
    return Run(path, config, preset, g, dev, int(ckpt.meta.get("step", 0)), ckpt_path)
