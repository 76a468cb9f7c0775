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
from .models.resnet import ResNetDiscriminator, ResNetGenerator


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    image_shape: tuple[int, int, int]  # C, H, W of the generated images
    generator: Callable[[TrainConfig], nn.Module]
    discriminator: Callable[[TrainConfig], nn.Module]
    defaults: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # where the recipe comes from
    quality: str = ""  # what it measured, with the conditions (only measured figures)


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


def config_num_classes(c: TrainConfig) -> int | None:
    """The class count to build conditional models for: None unless ``c.conditional``. The trainer
    writes ``extra["num_classes"]`` from the dataset's labels, so a run's config.json alone rebuilds it."""
    if not c.conditional:
        return None
    n = c.extra.get("num_classes")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise GanforgeError(f"a conditional config needs extra.num_classes, a positive integer (the trainer sets "
                            f"it from the dataset's labels); got {n!r}")
    return n


def config_d_channels(c: TrainConfig, channels: int) -> int:
    """D's input channels: with PacGAN packing (``c.pack`` = m) D sees m images stacked on channels."""
    return channels * (c.pack or 1)


def conditional_presets() -> list[str]:
    """Presets that are class-conditional by default."""
    return [name for name, p in PRESETS.items() if p.defaults.get("conditional")]


def _ten_cpu_minutes(steps: str, figures: str) -> str:
    """A ``quality`` line from bench/preset_quality.py: what 600 s of training on one core reached."""
    return f"in 10 minutes of one core ({steps}): {figures}; AMD EPYC Zen 4, fp32, bench/preset_quality.py"


def _small_dcgan(channels: int) -> dict[str, Callable[[TrainConfig], nn.Module]]:
    """The lean DCGAN pair at ``extra.width``, class-conditional when the config is."""
    return {"generator": lambda c: SmallDCGANGenerator(c.z_dim, channels=channels, width=c.extra["width"],
                                                       num_classes=config_num_classes(c)),
            "discriminator": lambda c: SmallDCGANDiscriminator(channels=config_d_channels(c, channels),
                                                               width=c.extra["width"],
                                                               num_classes=config_num_classes(c))}


register_preset(Preset(
    "dcgan-28-fast",
    "the default: a lean DCGAN (4x4 kernels, 32/64 channels, EMA of G), recognisable digits in minutes on a CPU",
    (1, 28, 28),
    **_small_dcgan(1),
    # Tuned for minutes on 2 CPU cores: half width (4x fewer FLOPs than width 64) buys 2.7x more
    # steps, and lr 1e-3 learns twice as fast as DCGAN's 2e-4 at this size (bench/ and README).
    defaults={"batch_size": 64, "z_dim": 64, "optimizer": "adam", "lr_g": 1e-3, "lr_d": 1e-3,
              "betas": (0.5, 0.999), "loss": "bce", "d_update": "concat", "d_steps": 1,
              "g_eval_for_d": False, "init": "dcgan", "ema_kimg": 10.0, "steps": 3000, "extra": {"width": 32}},
    source="Radford et al. 2016 (DCGAN) at reduced width, faster learning rate, EMA generator",
    quality=_ten_cpu_minutes("15,301 steps of 64", "MNIST Inception FID 22.5, KID 0.0109 (2,000 samples), domain FID "
                             "146.3; recognisable digits (domain FID <= 200) after 2,500 steps, 73.6 s on both cores"),
))

_FAST = PRESETS["dcgan-28-fast"]
# Two changes measured to help the lean DCGANs (docs/quality.md), shared by the presets below.
_HINGE_TTUR = {"loss": "hinge", "lr_d": 2e-3}  # hinge loss, D at twice G's learning rate
_LIGHT_R1 = {"r1_gamma": 0.1, "r1_every": 16}  # lazy R1, every 16th D step
register_preset(Preset(
    "dcgan-28-cond",
    "dcgan-28-fast conditioned on the dataset's classes: conditional BatchNorm in G, projection D",
    _FAST.image_shape, _FAST.generator, _FAST.discriminator, defaults={**_FAST.defaults, "conditional": True},
    source="dcgan-28-fast with conditional BN (de Vries et al. 2017) and a projection D (Miyato & Koyama 2018)",
    quality="after 8,000 steps of 64: MNIST Inception FID 9.21, class accuracy 99.22%, domain FID 11.05; "
            "Fashion-MNIST Inception FID 18.71 (10k samples vs the 10k test split); 2-core AMD EPYC",
))

# The best FIDs on a CPU budget: dcgan-28-cond at twice the width (about 2.7x the time per step) with
# the recipe that helped the lean DCGANs: hinge + TTUR, and a light lazy R1 (docs/quality.md, session 7).
_COND = PRESETS["dcgan-28-cond"]
register_preset(Preset(
    "dcgan-28-cond-wide",
    "dcgan-28-cond at width 64 with the hinge loss, TTUR and a light lazy R1: the best MNIST and Fashion-MNIST "
    "FIDs on a CPU budget",
    _COND.image_shape, _COND.generator, _COND.discriminator,
    defaults={**_COND.defaults, **_HINGE_TTUR, **_LIGHT_R1, "steps": 10000, "extra": {"width": 64}},
    source=_COND.source + "; hinge loss (Lim & Ye 2017), TTUR (Heusel et al. 2017), lazy R1 (Mescheder et al. 2018)",
    quality="after 10,000 steps of 64: MNIST Inception FID 5.93 (5.39 with --steps 20000; 4.84 with --steps 26000 "
            "--lr-schedule linear --lr-decay-steps 6000, classes in the test split's mix, 4.93 in equal numbers), "
            "KID 0.0027, class accuracy 99.15%, domain FID 5.63; "
            "Fashion-MNIST with --steps 20000: Inception FID 15.77 (10.08 with --steps 100000 --lr-schedule linear "
            "--lr-decay-steps 80000; 10k samples vs the 10k test split); AMD EPYC Zen 4, one core",
))

register_preset(Preset(
    "mlp-sgd",
    "MLP GAN tutorial: G Dense 256-512-1024 + LeakyReLU + BN(0.8), D Dense 512-256; BCE, SGD, batch 32",
    (1, 28, 28),
    generator=lambda c: MLPGenerator(c.z_dim, (1, 28, 28), bn_momentum=0.8),
    discriminator=lambda c: MLPDiscriminator((config_d_channels(c, 1), 28, 28), hidden=(512, 256)),
    # Keras' 'sgd' is lr 0.01 without momentum; the loop trains D on the real batch, then on the
    # fake batch (made by gen.predict, so BN in inference mode), then G through the combined model.
    defaults={**_KERAS, "batch_size": 32, "z_dim": 100, "optimizer": "sgd", "lr_g": 0.01, "lr_d": 0.01,
              "momentum": 0.0, "d_update": "separate", "g_eval_for_d": True, "steps": 30000},
    source="Analytics Vidhya, 'GAN in TensorFlow to generate images' (Keras)",
    quality=_ten_cpu_minutes("45,120 steps of 32", "MNIST Inception FID 91.3, KID 0.0959 (2,000 samples), "
                             "domain FID 174.3"),
))

register_preset(Preset(
    "mlp-adam",
    "MLP GAN tutorial: G Dense 256-512-1024, D Dense 1024-512-256 + Dropout 0.3; BCE, Adam(2e-4, 0.5), batch 128",
    (1, 28, 28),
    generator=lambda c: MLPGenerator(c.z_dim, (1, 28, 28)),
    discriminator=lambda c: MLPDiscriminator((config_d_channels(c, 1), 28, 28), hidden=(1024, 512, 256), dropout=0.3),
    # One D update on the real and fake batches concatenated, then G through the frozen D on the same
    # noise (the loop's GAN.train_on_batch(noise, ...) reuses predict()'s noise).
    defaults={**_KERAS, "batch_size": 128, "z_dim": 100, "optimizer": "adam", "lr_g": 2e-4, "lr_d": 2e-4,
              "betas": (0.5, 0.999), "d_update": "concat", "g_eval_for_d": True, "g_noise": "reuse", "epochs": 50},
    source="Keras MLP GAN tutorial (generator.predict + train_on_batch loop)",
    quality=_ten_cpu_minutes("11,296 steps of 128", "MNIST Inception FID 83.1, KID 0.0757 (2,000 samples), "
                             "domain FID 139.4"),
))

register_preset(Preset(
    "dcgan-28",
    "TensorFlow DCGAN tutorial: Dense 7*7*256 -> ConvT 128/64/1 5x5; D Conv 64/128 + Dropout; Adam(1e-4), batch 256",
    (1, 28, 28),
    generator=lambda c: TutorialDCGAN28Generator(c.z_dim),
    discriminator=lambda c: TutorialDCGAN28Discriminator(config_d_channels(c, 1)),
    # One GradientTape pass: G and D losses from the same forward, both updated at once.
    defaults={**_KERAS, "batch_size": 256, "z_dim": 100, "optimizer": "adam", "lr_g": 1e-4, "lr_d": 1e-4,
              "betas": (0.9, 0.999), "d_update": "simultaneous", "g_eval_for_d": False, "epochs": 50},
    source="tensorflow.org/tutorials/generative/dcgan",
    quality=_ten_cpu_minutes("783 steps of 256, 3.3 epochs", "MNIST Inception FID 372.6, KID 0.511 (2,000 samples), "
                             "domain FID 1,261: still at the start (its 50 epochs are 2.5 hours of one core)"),
))

_DCGAN64 = {**_KERAS, "batch_size": 128, "z_dim": 100, "optimizer": "adam", "lr_g": 2e-4, "lr_d": 2e-4,
            "betas": (0.5, 0.999), "d_update": "simultaneous", "g_eval_for_d": False, "steps": 10000}

register_preset(Preset(
    "dcgan-64-rgb",
    "64x64 RGB DCGAN tutorial as written (no activation after G's BatchNorms); Adam(2e-4, 0.5)",
    (3, 64, 64),
    generator=lambda c: TutorialDCGAN64Generator(c.z_dim, activation=False),
    discriminator=lambda c: TutorialDCGAN64Discriminator(config_d_channels(c, 3)),
    defaults=_DCGAN64,
    source="Keras 64x64 DCGAN tutorial",
    quality=_ten_cpu_minutes("506 steps of 128", "on MNIST at 64 px RGB, domain FID 4,682, one texture for every "
                             "latent (class KL ln 10): still at the start"),
))

register_preset(Preset(
    "dcgan-64-rgb-fixed",
    "dcgan-64-rgb with the LeakyReLU after each generator BatchNorm that the tutorial left out",
    (3, 64, 64),
    generator=lambda c: TutorialDCGAN64Generator(c.z_dim, activation=True),
    discriminator=lambda c: TutorialDCGAN64Discriminator(config_d_channels(c, 3)),
    defaults=_DCGAN64,
    source="Keras 64x64 DCGAN tutorial, corrected",
    quality=_ten_cpu_minutes("564 steps of 128", "on MNIST at 64 px RGB, domain FID 3,919, one texture for every "
                             "latent (class KL ln 10): still at the start; at 1,500 steps domain FID 341, class KL "
                             "0.053"),
))

# Modern recipes (issue 5): SNGAN-style ResNets (Miyato et al. 2018) with the hinge loss, spectral
# norm on D, TTUR (D learns twice as fast, Heusel et al. 2017; Zhang et al. 2019), Adam betas (0, 0.9),
# a linear decay of both learning rates to 0, and an EMA of G for sampling. A ResNet costs ~25x the
# FLOPs per image of dcgan-28-fast: these presets are for a GPU, or for patient CPU runs.
_MODERN = {"optimizer": "adam", "betas": (0.0, 0.9), "loss": "hinge", "d_update": "sum", "d_steps": 1,
           "g_eval_for_d": False, "init": "torch", "spectral_norm": "d", "ema_kimg": 10.0,
           "lr_g": 2e-4, "lr_d": 4e-4, "lr_schedule": "linear", "z_dim": 128}
_SNGAN = "Miyato et al. 2018 (SNGAN ResNet, hinge, spectral norm), TTUR (Heusel et al. 2017), EMA of G"


def _resnet(channels: int, size: int) -> dict[str, Callable[[TrainConfig], nn.Module]]:
    return {"generator": lambda c: ResNetGenerator(c.z_dim, channels, size, width=c.extra["width"],
                                                   num_classes=config_num_classes(c)),
            "discriminator": lambda c: ResNetDiscriminator(config_d_channels(c, channels), size, width=c.extra["width"],
                                                           num_classes=config_num_classes(c))}


register_preset(Preset(
    "resnet-28-mnist",
    "SNGAN-style ResNet for 28x28 grey digits (MNIST): hinge, spectral norm on D, TTUR, linear lr decay, EMA of G",
    (1, 28, 28), **_resnet(1, 28),
    defaults={**_MODERN, "batch_size": 64, "steps": 10000, "extra": {"width": 32}},
    source=_SNGAN,
    quality=_ten_cpu_minutes("1,082 steps of 64", "MNIST Inception FID 57.8, KID 0.0517 (2,000 samples), domain "
                             "FID 304.4; a GPU preset (0.55 s a step on one core)"),
))

register_preset(Preset(
    "resnet-28-fashion",
    "resnet-28-mnist at twice the width, for Fashion-MNIST's textures (--dataset fashion-mnist)",
    (1, 28, 28), **_resnet(1, 28),
    defaults={**_MODERN, "batch_size": 64, "steps": 10000, "extra": {"width": 64}},
    source=_SNGAN,
    quality=_ten_cpu_minutes("307 steps of 64", "Fashion-MNIST Inception FID 180.7, KID 0.205 (2,000 samples), "
                             "domain FID 347.1; a GPU preset (2 s a step on one core)"),
))

register_preset(Preset(
    "resnet-28-stacked",
    "resnet-28-mnist for three-channel 28x28 images: Stacked MNIST's 1,000 modes (--dataset stacked-mnist)",
    (3, 28, 28), **_resnet(3, 28),
    defaults={**_MODERN, "batch_size": 64, "steps": 10000, "extra": {"width": 32}},
    source=_SNGAN,
    quality=_ten_cpu_minutes("1,051 steps of 64", "Stacked MNIST 770 of 1,000 modes, KL 1.40 (26,000 samples), "
                             "domain FID 1,830; a GPU preset (0.57 s a step on one core)"),
))

register_preset(Preset(
    "resnet-64-rgb",
    "SNGAN-style ResNet for 64x64 RGB folders of a few hundred images and up: the modern recipe plus "
    "DiffAugment (translation, cutout, colour)",
    (3, 64, 64), **_resnet(3, 64),
    # DiffAugment (Zhao et al. 2020) keeps D from memorising a small folder; the EMA is shorter
    # because small-data runs are short.
    defaults={**_MODERN, "batch_size": 32, "steps": 20000, "augment": "translation,cutout,color", "ema_kimg": 5.0,
              "extra": {"width": 32}},
    source=_SNGAN + "; DiffAugment (Zhao et al. 2020)",
    quality=_ten_cpu_minutes("248 steps of 32", "on MNIST at 64 px RGB, domain FID 598.5, 33.2% of the samples read "
                             "with confidence; a GPU preset (2.4 s a step on one core)"),
))

# The CPU recipe: dcgan-28-fast with the two options that measured better alone and together at
# 1,000 steps on MNIST and Fashion-MNIST (docs/quality.md); spectral norm and a decaying lr did not.
register_preset(Preset(
    "dcgan-28-hinge",
    "dcgan-28-fast with the hinge loss and TTUR (D at twice G's lr): better MNIST and Fashion-MNIST in the same steps",
    (1, 28, 28),
    **_small_dcgan(1),
    defaults={**_FAST.defaults, **_HINGE_TTUR},
    source="dcgan-28-fast; hinge loss (Lim & Ye 2017), TTUR (Heusel et al. 2017)",
    quality="domain FID 156.6 on MNIST after 3,000 steps, 136 s of training (dcgan-28-fast: 176.2, 157 s); "
            "Fashion-MNIST 204.9 after 1,000 steps (dcgan-28-fast: 243.4); 2-core AMD EPYC, shared",
))

# Stacked MNIST on a CPU budget: dcgan-28-hinge with three channels (one digit per channel, 1,000
# modes). Only the first and last layers see the channels, so a step costs what dcgan-28-hinge's does.
# A light lazy R1 evens out each channel's digit shares, which is most of the KL (docs/quality.md,
# session 6: 0.090, 0.080 and 0.098 for seeds 0-2 at 20,000 steps against 0.101 and 0.130 without it);
# 30,000 steps leave a margin under the 0.1 target (0.069-0.074).
_HINGE = PRESETS["dcgan-28-hinge"]
register_preset(Preset(
    "dcgan-28-stacked",
    "dcgan-28-hinge with a light lazy R1 for three-channel 28x28 images: Stacked MNIST's 1,000 modes "
    "(--dataset stacked-mnist)",
    (3, 28, 28),
    **_small_dcgan(3),
    defaults={**_HINGE.defaults, **_LIGHT_R1, "steps": 30000},
    source=_HINGE.source + "; R1 (Mescheder et al. 2018), lazy (Karras et al. 2020)",
    quality="Stacked MNIST, 26,000 samples: 1,000 modes, KL to uniform 0.069, 0.074 and 0.073 (seeds 0-2) at "
            "30,000 steps, 1,650-1,690 s of training on one core each (0.080-0.098 at 20,000; PacGAN: 0.06); "
            "AMD EPYC Zen 4",
))
