"""Colour images: the lean colour DCGANs for a folder of one's own images on a CPU, and the DCGAN a PyTorch
user runs first (pytorch/examples' ``dcgan/main.py`` and the PyTorch DCGAN tutorial), as written."""

from __future__ import annotations

from ..models.dcgan import PyTorchDCGANDiscriminator, PyTorchDCGANGenerator
from ..models.lean import LeanDiscriminator, LeanGenerator
from .lean import FAST, HINGE_TTUR
from .registry import Preset, d_channels, register_preset

LEAN_COLOUR = {"generator": lambda c: LeanGenerator(c.z_dim, c.channels, c.resolution, width=c.extra["width"],
                                                    num_classes=c.num_classes),
               "discriminator": lambda c: LeanDiscriminator(d_channels(c), c.resolution, width=c.extra["width"],
                                                            num_classes=c.num_classes)}
# The lean recipe (docs/quality.md) with DiffAugment, which keeps D from memorising a folder of a few thousand
# images (Zhao et al. 2020); the run lengths fill about ten minutes of two CPU cores (docs/performance.md).
COLOUR = {**FAST, **HINGE_TTUR, "augment": "translation,cutout,color"}
LEAN_SOURCE = "dcgan-28-fast's recipe at 32/64 px: Radford et al. 2016 at reduced width; DiffAugment (Zhao et al. 2020)"

for side, width, steps in ((32, 32, 8000), (64, 16, 3000)):  # width: as wide as the speed targets allow
    register_preset(Preset(
        f"dcgan-{side}-rgb-fast",
        f"a lean DCGAN for {side}x{side} colour folders on a CPU: 4x4 kernels, hinge + TTUR, DiffAugment, EMA of G",
        (3, side, side), **LEAN_COLOUR, defaults={**COLOUR, "steps": steps, "extra": {"width": width}},
        source=LEAN_SOURCE, purpose=f"your colour images, {side} px, on a CPU", family="lean",
        channel_options=(1, 3), cpu_default=True))

# pytorch/examples' dcgan/main.py: D on the real batch, then on G's fakes (gradients summed, one D step), then G
# on those very fakes through the one forward (g_noise "same"); BCE on D's sigmoid, N(0, 0.02) weights and
# BatchNorm gains N(1, 0.02), Adam(2e-4, 0.5), batch 64, 25 epochs.
register_preset(Preset(
    "dcgan-64-pytorch",
    "the DCGAN of pytorch/examples and the PyTorch DCGAN tutorial as written: ConvT 512-256-128-64-3, BatchNorm, "
    "Adam(2e-4, 0.5), batch 64 (the tutorial's 128 with --batch-size 128)",
    (3, 64, 64),
    generator=lambda c: PyTorchDCGANGenerator(c.z_dim, c.channels, width=c.extra["width"]),
    discriminator=lambda c: PyTorchDCGANDiscriminator(d_channels(c), width=c.extra["width"]),
    defaults={"batch_size": 64, "z_dim": 100, "optimizer": "adam", "lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.5, 0.999),
              "loss": "bce", "d_update": "sum", "g_noise": "same", "init": "dcgan", "epochs": 25,
              "extra": {"width": 64}},
    source="pytorch/examples dcgan/main.py; pytorch.org/tutorials/beginner/dcgan_faces_tutorial (Radford et al. 2016)",
    purpose="tutorial: PyTorch's DCGAN, 64x64 RGB", family="tutorial", channel_options=(1, 3)))
