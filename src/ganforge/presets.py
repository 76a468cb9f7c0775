"""Named presets: an architecture plus the hyperparameters it was published with.

A preset is one registered entry. ``defaults`` holds values for :class:`~ganforge.config.TrainConfig`
fields; anything the user sets wins over them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from .config import TrainConfig
from .errors import GanforgeError
from .models.dcgan import (
    SmallDCGANDiscriminator,
    SmallDCGANGenerator,
    TutorialDCGAN28Discriminator,
    TutorialDCGAN28Generator,
    TutorialDCGAN64Discriminator,
    TutorialDCGAN64Generator,
)
from .models.mlp import MLPDiscriminator, MLPGenerator


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    image_shape: tuple[int, int, int]  # C, H, W of the generated images
    generator: Callable[[TrainConfig], nn.Module]
    discriminator: Callable[[TrainConfig], nn.Module]
    defaults: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # where the recipe comes from


PRESETS: dict[str, Preset] = {}


def register_preset(preset: Preset) -> Preset:
    if preset.name in PRESETS:
        raise ValueError(f"preset {preset.name!r} is registered twice")
    PRESETS[preset.name] = preset
    return preset


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise GanforgeError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}") from None


# Keras tutorials: BCE, Keras initialisers and BatchNorm, the tutorials' own update loops.
_KERAS = {"loss": "bce", "init": "keras", "d_steps": 1}

register_preset(Preset(
    "dcgan-28-fast",
    "the default: a lean DCGAN (4x4 kernels, 32/64 channels, EMA of G), recognisable digits in minutes on a CPU",
    (1, 28, 28),
    generator=lambda c: SmallDCGANGenerator(c.z_dim, channels=1, width=c.extra["width"]),
    discriminator=lambda c: SmallDCGANDiscriminator(channels=1, width=c.extra["width"]),
    # Tuned for minutes on 2 CPU cores: half width (4x fewer FLOPs than width 64) buys 2.7x more
    # steps, and lr 1e-3 learns twice as fast as DCGAN's 2e-4 at this size (bench/ and README).
    defaults={"batch_size": 64, "z_dim": 64, "optimizer": "adam", "lr_g": 1e-3, "lr_d": 1e-3,
              "betas": (0.5, 0.999), "loss": "bce", "d_update": "concat", "d_steps": 1,
              "g_eval_for_d": False, "init": "dcgan", "ema_kimg": 10.0, "steps": 3000, "extra": {"width": 32}},
    source="Radford et al. 2016 (DCGAN) at reduced width, faster learning rate, EMA generator",
))

register_preset(Preset(
    "mlp-sgd",
    "MLP GAN tutorial: G Dense 256-512-1024 + LeakyReLU + BN(0.8), D Dense 512-256; BCE, SGD, batch 32",
    (1, 28, 28),
    generator=lambda c: MLPGenerator(c.z_dim, (1, 28, 28), bn_momentum=0.8),
    discriminator=lambda c: MLPDiscriminator((1, 28, 28), hidden=(512, 256)),
    # Keras' 'sgd' is lr 0.01 without momentum; the loop trains D on the real batch, then on the
    # fake batch (made by gen.predict, so BN in inference mode), then G through the combined model.
    defaults={**_KERAS, "batch_size": 32, "z_dim": 100, "optimizer": "sgd", "lr_g": 0.01, "lr_d": 0.01,
              "momentum": 0.0, "d_update": "separate", "g_eval_for_d": True, "steps": 30000},
    source="Analytics Vidhya, 'GAN in TensorFlow to generate images' (Keras)",
))

register_preset(Preset(
    "mlp-adam",
    "MLP GAN tutorial: G Dense 256-512-1024, D Dense 1024-512-256 + Dropout 0.3; BCE, Adam(2e-4, 0.5), batch 128",
    (1, 28, 28),
    generator=lambda c: MLPGenerator(c.z_dim, (1, 28, 28)),
    discriminator=lambda c: MLPDiscriminator((1, 28, 28), hidden=(1024, 512, 256), dropout=0.3),
    # One D update on the real and fake batches concatenated, then G through the frozen D.
    defaults={**_KERAS, "batch_size": 128, "z_dim": 100, "optimizer": "adam", "lr_g": 2e-4, "lr_d": 2e-4,
              "betas": (0.5, 0.999), "d_update": "concat", "g_eval_for_d": True, "epochs": 50},
    source="Keras MLP GAN tutorial (generator.predict + train_on_batch loop)",
))

register_preset(Preset(
    "dcgan-28",
    "TensorFlow DCGAN tutorial: Dense 7*7*256 -> ConvT 128/64/1 5x5; D Conv 64/128 + Dropout; Adam(1e-4), batch 256",
    (1, 28, 28),
    generator=lambda c: TutorialDCGAN28Generator(c.z_dim),
    discriminator=lambda c: TutorialDCGAN28Discriminator(),
    # One GradientTape pass: G and D losses from the same forward, both updated at once.
    defaults={**_KERAS, "batch_size": 256, "z_dim": 100, "optimizer": "adam", "lr_g": 1e-4, "lr_d": 1e-4,
              "betas": (0.9, 0.999), "d_update": "simultaneous", "g_eval_for_d": False, "epochs": 50},
    source="tensorflow.org/tutorials/generative/dcgan",
))

_DCGAN64 = {**_KERAS, "batch_size": 128, "z_dim": 100, "optimizer": "adam", "lr_g": 2e-4, "lr_d": 2e-4,
            "betas": (0.5, 0.999), "d_update": "simultaneous", "g_eval_for_d": False, "steps": 10000}

register_preset(Preset(
    "dcgan-64-rgb",
    "64x64 RGB DCGAN tutorial as written (no activation after G's BatchNorms); Adam(2e-4, 0.5)",
    (3, 64, 64),
    generator=lambda c: TutorialDCGAN64Generator(c.z_dim, activation=False),
    discriminator=lambda c: TutorialDCGAN64Discriminator(),
    defaults=_DCGAN64,
    source="Keras 64x64 DCGAN tutorial",
))

register_preset(Preset(
    "dcgan-64-rgb-fixed",
    "dcgan-64-rgb with the LeakyReLU after each generator BatchNorm that the tutorial left out",
    (3, 64, 64),
    generator=lambda c: TutorialDCGAN64Generator(c.z_dim, activation=True),
    discriminator=lambda c: TutorialDCGAN64Discriminator(),
    defaults=_DCGAN64,
    source="Keras 64x64 DCGAN tutorial, corrected",
))
