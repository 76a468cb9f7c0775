"""The lean DCGANs: ganforge's default and its variants, tuned for minutes on a CPU (docs/quality.md)."""

from __future__ import annotations

from ..models.dcgan import SmallDCGANDiscriminator, SmallDCGANGenerator
from .registry import Preset, d_channels, register_preset

SOURCE = "Radford et al. 2016 (DCGAN) at reduced width, faster learning rate, EMA generator"
# Tuned for minutes on 2 CPU cores: half width (4x fewer FLOPs than width 64) buys 2.7x more steps, and
# lr 1e-3 learns twice as fast as DCGAN's 2e-4 at this size (docs/quality.md).
FAST = {"batch_size": 64, "z_dim": 64, "optimizer": "adam", "lr_g": 1e-3, "lr_d": 1e-3, "betas": (0.5, 0.999),
        "loss": "bce", "d_update": "concat", "d_steps": 1, "g_eval_for_d": False, "init": "dcgan", "ema_kimg": 10.0,
        "steps": 3000, "extra": {"width": 32}}
HINGE_TTUR = {"loss": "hinge", "lr_d": 2e-3}  # hinge loss, D at twice G's learning rate (measured to help)
LIGHT_R1 = {"r1_gamma": 0.1, "r1_every": 16}  # lazy R1, every 16th D step
LEAN = {"generator": lambda c: SmallDCGANGenerator(c.z_dim, channels=c.channels, width=c.extra["width"],
                                                   num_classes=c.num_classes),
        "discriminator": lambda c: SmallDCGANDiscriminator(channels=d_channels(c), width=c.extra["width"],
                                                           num_classes=c.num_classes)}

register_preset(Preset(
    "dcgan-28-fast",
    "the default: a lean DCGAN (4x4 kernels, 32/64 channels, EMA of G), recognisable digits in minutes on a CPU",
    (1, 28, 28), **LEAN, defaults=FAST, source=SOURCE, purpose="default: digits in minutes on a CPU",
    family="lean", cpu_default=True))

register_preset(Preset(
    "dcgan-28-cond",
    "dcgan-28-fast conditioned on the dataset's classes: conditional BatchNorm in G, projection D",
    (1, 28, 28), **LEAN, defaults={**FAST, "conditional": True},
    source="dcgan-28-fast with conditional BN (de Vries et al. 2017) and a projection D (Miyato & Koyama 2018)",
    purpose="one class on demand (conditional)", family="lean"))

# The best FIDs on a CPU budget: dcgan-28-cond at twice the width (about 2.7x the time per step) with
# the recipe that helped the lean DCGANs: hinge + TTUR, and a light lazy R1 (docs/quality.md).
register_preset(Preset(
    "dcgan-28-cond-wide",
    "dcgan-28-cond at width 64 with the hinge loss, TTUR and a light lazy R1: the best MNIST and Fashion-MNIST "
    "FIDs on a CPU budget",
    (1, 28, 28), **LEAN, defaults={**FAST, "conditional": True, **HINGE_TTUR, **LIGHT_R1, "steps": 10000,
                                   "extra": {"width": 64}},
    source="dcgan-28-cond; hinge loss (Lim & Ye 2017), TTUR (Heusel et al. 2017), lazy R1 (Mescheder et al. 2018)",
    purpose="best conditional FIDs on a CPU", family="lean"))

# dcgan-28-fast with the two options that measured better alone and together at 1,000 steps on MNIST and
# Fashion-MNIST (docs/quality.md); spectral norm and a decaying lr did not.
register_preset(Preset(
    "dcgan-28-hinge",
    "dcgan-28-fast with the hinge loss and TTUR (D at twice G's lr): better MNIST and Fashion-MNIST in the same steps",
    (1, 28, 28), **LEAN, defaults={**FAST, **HINGE_TTUR},
    source="dcgan-28-fast; hinge loss (Lim & Ye 2017), TTUR (Heusel et al. 2017)",
    purpose="the default with hinge + TTUR", family="lean"))

# Stacked MNIST on a CPU budget: three channels (one digit each, 1,000 modes). Only the first and last layers
# see the channels, so a step costs what dcgan-28-hinge's does. A light lazy R1 evens out each channel's
# digit shares, which is most of the KL (docs/quality.md).
register_preset(Preset(
    "dcgan-28-stacked",
    "dcgan-28-hinge with a light lazy R1 for three-channel 28x28 images: Stacked MNIST's 1,000 modes "
    "(--dataset stacked-mnist)",
    (3, 28, 28), **LEAN, defaults={**FAST, **HINGE_TTUR, **LIGHT_R1, "steps": 30000},
    source="dcgan-28-hinge; R1 (Mescheder et al. 2018), lazy (Karras et al. 2020)",
    purpose="Stacked MNIST's 1,000 modes", family="lean"))
