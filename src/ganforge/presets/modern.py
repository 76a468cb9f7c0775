"""Modern recipes: SNGAN-style ResNets (Miyato et al. 2018) with the hinge loss, spectral norm on D, TTUR
(D learns twice as fast, Heusel et al. 2017; Zhang et al. 2019), Adam betas (0, 0.9), a linear decay of both
learning rates to 0, and an EMA of G for sampling. A ResNet costs ~25x the FLOPs per image of dcgan-28-fast:
these presets are for a GPU, or for patient CPU runs."""

from __future__ import annotations

from ..models.resnet import ResNetDiscriminator, ResNetGenerator
from .registry import Preset, d_channels, register_preset

MODERN = {"optimizer": "adam", "betas": (0.0, 0.9), "loss": "hinge", "d_update": "sum", "d_steps": 1,
          "g_eval_for_d": False, "init": "torch", "spectral_norm": "d", "ema_kimg": 10.0,
          "lr_g": 2e-4, "lr_d": 4e-4, "lr_schedule": "linear", "z_dim": 128}
SNGAN = "Miyato et al. 2018 (SNGAN ResNet, hinge, spectral norm), TTUR (Heusel et al. 2017), EMA of G"
RESNET = {"generator": lambda c: ResNetGenerator(c.z_dim, c.channels, c.resolution, width=c.extra["width"],
                                                 num_classes=c.num_classes),
          "discriminator": lambda c: ResNetDiscriminator(d_channels(c), c.resolution, width=c.extra["width"],
                                                         num_classes=c.num_classes)}

register_preset(Preset(
    "resnet-28-mnist",
    "SNGAN-style ResNet for 28x28 grey digits (MNIST): hinge, spectral norm on D, TTUR, linear lr decay, EMA of G",
    (1, 28, 28), **RESNET, defaults={**MODERN, "batch_size": 64, "steps": 10000, "extra": {"width": 32}},
    source=SNGAN, purpose="GPU: modern ResNet, digits", family="modern"))

register_preset(Preset(
    "resnet-28-fashion",
    "resnet-28-mnist at twice the width, for Fashion-MNIST's textures (--dataset fashion-mnist)",
    (1, 28, 28), **RESNET, defaults={**MODERN, "batch_size": 64, "steps": 10000, "extra": {"width": 64}},
    source=SNGAN, purpose="GPU: modern ResNet, clothes", family="modern"))

register_preset(Preset(
    "resnet-28-stacked",
    "resnet-28-mnist for three-channel 28x28 images: Stacked MNIST's 1,000 modes (--dataset stacked-mnist)",
    (3, 28, 28), **RESNET, defaults={**MODERN, "batch_size": 64, "steps": 10000, "extra": {"width": 32}},
    source=SNGAN, purpose="GPU: modern ResNet, 1,000 modes", family="modern"))

register_preset(Preset(
    "resnet-64-rgb",
    "SNGAN-style ResNet for 64x64 RGB folders of a few hundred images and up: the modern recipe plus "
    "DiffAugment (translation, cutout, colour)",
    (3, 64, 64), **RESNET,
    # DiffAugment (Zhao et al. 2020) keeps D from memorising a small folder; the EMA is shorter because
    # small-data runs are short.
    defaults={**MODERN, "batch_size": 32, "steps": 20000, "augment": "translation,cutout,color", "ema_kimg": 5.0,
              "extra": {"width": 32}},
    source=SNGAN + "; DiffAugment (Zhao et al. 2020)", purpose="GPU: your colour images, 64 px", family="modern",
    resolutions=(32, 64)))

# R3GAN's objective (Huang et al. 2024): the relativistic pairing loss with R1 and R2, no spectral norm, Adam
# betas (0, 0.99). On the SNGAN-style ResNet, not R3GAN's own architecture: "R3GAN-style". DiffAugment as for
# the other folder preset.
register_preset(Preset(
    "r3gan-64-rgb",
    "R3GAN's recipe (RpGAN + R1 + R2, no spectral norm) on the SNGAN-style ResNet, for 64x64 RGB folders on a GPU",
    (3, 64, 64), **RESNET,
    defaults={**MODERN, "loss": "rpgan", "spectral_norm": "none", "betas": (0.0, 0.99), "lr_d": 2e-4,
              "r1_gamma": 0.1, "r2_gamma": 0.1, "batch_size": 32, "steps": 20000, "augment": "translation,cutout,color",
              "ema_kimg": 5.0, "extra": {"width": 32}},
    source="Huang et al. 2024, 'The GAN is dead; long live the GAN! A Modern GAN Baseline' (RpGAN + R1 + R2); "
           "the SNGAN-style ResNet of resnet-64-rgb",
    purpose="GPU: your colour images, R3GAN's loss", family="modern", resolutions=(32, 64)))
