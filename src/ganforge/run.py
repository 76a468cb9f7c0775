"""A finished (or running) training run, loaded from its folder for sampling and evaluation."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image
from torch import nn

from .checkpoint import Checkpoint
from .config import TrainConfig
from .errors import GanforgeError
from .images import to_pil, to_uint8
from .presets import Preset, get_preset
from .training import LAST_CHECKPOINT, build_models, load_run_config, resolve_device


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
        return None  # unconditional presets only, for now

    def noise(self, n: int, seed: int = 0) -> torch.Tensor:
        """The latent vectors for ``seed``: the same seed always gives the same images."""
        gen = torch.Generator().manual_seed(seed)
        return torch.randn(n, self.z_dim, generator=gen)

    @torch.no_grad()
    def generate(self, n: int, *, seed: int = 0, batch_size: int = 256,
                 labels: torch.Tensor | None = None, z: torch.Tensor | None = None) -> torch.Tensor:
        """``n`` images as a uint8 tensor n x C x H x W on the CPU."""
        if n <= 0:
            raise GanforgeError(f"number of images must be positive, got {n}")
        if labels is not None:
            raise GanforgeError(f"run '{self.path}' is unconditional; it takes no class labels")
        z = self.noise(n, seed) if z is None else z
        out = []
        for chunk in z.split(batch_size):
            out.append(to_uint8(self.generator(chunk.to(self.device))).cpu())
        return torch.cat(out)

    def generate_float(self, n: int, *, seed: int = 0) -> torch.Tensor:
        """Raw generator output in [-1, 1] (float, n x C x H x W, CPU)."""
        with torch.no_grad():
            return self.generator(self.noise(n, seed).to(self.device)).float().cpu()

    def sample_pil(self, n: int, *, seed: int = 0) -> list[Image.Image]:
        return to_pil(self.generate(n, seed=seed))


def load_run(path: str | Path, *, checkpoint: str = "last", device: str | None = None) -> Run:
    """Load a run folder's generator (in inference mode) from its ``last`` (or named) checkpoint."""
    path = Path(path)
    config = load_run_config(path)
    preset = get_preset(config.preset)
    ckpt_path = path / LAST_CHECKPOINT if checkpoint == "last" else path / "checkpoints" / f"{checkpoint}.safetensors"
    if not ckpt_path.is_file():
        raise GanforgeError(f"run '{path}' has no '{checkpoint}' checkpoint ({ckpt_path} is missing)")
    ckpt = Checkpoint(ckpt_path)
    dev = resolve_device(device or "auto")
    g, _ = build_models(config, preset)
    # The EMA generator, when the run kept one, is the better sampler.
    ckpt.load_module("G_ema" if ckpt.has("G_ema") else "G", g)
    g.to(dev).eval()
    return Run(path, config, preset, g, dev, int(ckpt.meta.get("step", 0)), ckpt_path)
