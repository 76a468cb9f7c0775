"""The tutorial models as written: the Keras MLP GANs, the TensorFlow DCGAN and the 64x64 RGB DCGAN, with the
layers, parameter counts and training loops of the originals (Keras semantics in ``models.layers``)."""

from __future__ import annotations

from ..models.dcgan import (
    TutorialDCGAN28Discriminator,
    TutorialDCGAN28Generator,
    TutorialDCGAN64Discriminator,
    TutorialDCGAN64Generator,
)
from ..models.mlp import MLPDiscriminator, MLPGenerator
from .registry import Preset, d_channels, register_preset

# Keras tutorials: BCE, Keras initialisers and BatchNorm, the tutorials' own update loops.
KERAS = {"loss": "bce", "init": "keras", "d_steps": 1}


def _image(c):  # noqa: ANN001, ANN202  (a RunConfig)
    return (c.channels, c.resolution, c.resolution)


register_preset(Preset(
    "mlp-sgd",
    "MLP GAN tutorial: G Dense 256-512-1024 + LeakyReLU + BN(0.8), D Dense 512-256; BCE, SGD, batch 32",
    (1, 28, 28),
    generator=lambda c: MLPGenerator(c.z_dim, _image(c), bn_momentum=0.8),
    discriminator=lambda c: MLPDiscriminator((d_channels(c), c.resolution, c.resolution), hidden=(512, 256)),
    # Keras' 'sgd' is lr 0.01 without momentum; the loop trains D on the real batch, then on the
    # fake batch (made by gen.predict, so BN in inference mode), then G through the combined model.
    defaults={**KERAS, "batch_size": 32, "z_dim": 100, "optimizer": "sgd", "lr_g": 0.01, "lr_d": 0.01,
              "momentum": 0.0, "d_update": "separate", "g_eval_for_d": True, "steps": 30000},
    source="Analytics Vidhya, 'GAN in TensorFlow to generate images' (Keras)", purpose="tutorial: MLP GAN, SGD",
    family="tutorial"))

register_preset(Preset(
    "mlp-adam",
    "MLP GAN tutorial: G Dense 256-512-1024, D Dense 1024-512-256 + Dropout 0.3; BCE, Adam(2e-4, 0.5), batch 128",
    (1, 28, 28),
    generator=lambda c: MLPGenerator(c.z_dim, _image(c)),
    discriminator=lambda c: MLPDiscriminator((d_channels(c), c.resolution, c.resolution), hidden=(1024, 512, 256),
                                             dropout=0.3),
    # One D update on the real and fake batches concatenated, then G through the frozen D on the same
    # noise (the loop's GAN.train_on_batch(noise, ...) reuses predict()'s noise).
    defaults={**KERAS, "batch_size": 128, "z_dim": 100, "optimizer": "adam", "lr_g": 2e-4, "lr_d": 2e-4,
              "betas": (0.5, 0.999), "d_update": "concat", "g_eval_for_d": True, "g_noise": "reuse", "epochs": 50},
    source="Keras MLP GAN tutorial (generator.predict + train_on_batch loop)", purpose="tutorial: MLP GAN, Adam",
    family="tutorial"))

register_preset(Preset(
    "dcgan-28",
    "TensorFlow DCGAN tutorial: Dense 7*7*256 -> ConvT 128/64/1 5x5; D Conv 64/128 + Dropout; Adam(1e-4), batch 256",
    (1, 28, 28),
    generator=lambda c: TutorialDCGAN28Generator(c.z_dim),
    discriminator=lambda c: TutorialDCGAN28Discriminator(d_channels(c)),
    # One GradientTape pass: G and D losses from the same forward, both updated at once.
    defaults={**KERAS, "batch_size": 256, "z_dim": 100, "optimizer": "adam", "lr_g": 1e-4, "lr_d": 1e-4,
              "betas": (0.9, 0.999), "d_update": "simultaneous", "g_eval_for_d": False, "epochs": 50},
    source="tensorflow.org/tutorials/generative/dcgan", purpose="tutorial: TensorFlow's DCGAN", family="tutorial"))

DCGAN64 = {**KERAS, "batch_size": 128, "z_dim": 100, "optimizer": "adam", "lr_g": 2e-4, "lr_d": 2e-4,
           "betas": (0.5, 0.999), "d_update": "simultaneous", "g_eval_for_d": False, "steps": 10000}

register_preset(Preset(
    "dcgan-64-rgb",
    "64x64 RGB DCGAN tutorial as written (no activation after G's BatchNorms); Adam(2e-4, 0.5)",
    (3, 64, 64),
    generator=lambda c: TutorialDCGAN64Generator(c.z_dim, activation=False),
    discriminator=lambda c: TutorialDCGAN64Discriminator(d_channels(c)),
    defaults=DCGAN64, source="Keras 64x64 DCGAN tutorial", purpose="tutorial: 64x64 RGB, as written",
    family="tutorial"))

register_preset(Preset(
    "dcgan-64-rgb-fixed",
    "dcgan-64-rgb with the LeakyReLU after each generator BatchNorm that the tutorial left out",
    (3, 64, 64),
    generator=lambda c: TutorialDCGAN64Generator(c.z_dim, activation=True),
    discriminator=lambda c: TutorialDCGAN64Discriminator(d_channels(c)),
    defaults=DCGAN64, source="Keras 64x64 DCGAN tutorial, corrected", purpose="tutorial: 64x64 RGB, fixed",
    family="tutorial"))
