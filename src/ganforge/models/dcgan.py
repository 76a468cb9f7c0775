"""Convolutional GANs: the two DCGAN tutorials as written, and the small fast DCGAN that is
ganforge's default.

Every discriminator returns one logit per image; the sigmoid lives in the loss.
"""

from __future__ import annotations

import torch
from torch import nn

from .conditional import ProjectionHead, conditional_sequential
from .layers import Conv2d, ConvTranspose2d, Dropout, Reshape, keras_batchnorm


class TutorialDCGAN28Generator(nn.Module):
    """TensorFlow DCGAN tutorial: z -> Dense 7*7*256 (no bias) -> BN -> ReLU -> 7x7x256 ->
    ConvT 128 5x5 s1 -> BN -> ReLU -> ConvT 64 5x5 s2 -> BN -> ReLU -> ConvT 1 5x5 s2, tanh."""

    def __init__(self, z_dim: int = 100, channels: int = 1) -> None:
        super().__init__()

        def up(cin: int, cout: int, stride: int) -> list[nn.Module]:
            return [ConvTranspose2d(cin, cout, 5, stride, "same", bias=False), keras_batchnorm(cout), nn.ReLU()]

        self.net = nn.Sequential(
            nn.Linear(z_dim, 7 * 7 * 256, bias=False), keras_batchnorm(7 * 7 * 256, dims=1), nn.ReLU(),
            Reshape(256, 7, 7),
            *up(256, 128, 1), *up(128, 64, 2),
            ConvTranspose2d(64, channels, 5, 2, "same", bias=False), nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class TutorialDCGAN28Discriminator(nn.Module):
    """Conv 64 5x5 s2 -> LeakyReLU -> Dropout 0.3 -> Conv 128 5x5 s2 -> LeakyReLU -> Dropout 0.3 ->
    Flatten -> Dense 1. LeakyReLU has Keras' default slope, 0.3."""

    def __init__(self, channels: int = 1, slope: float = 0.3, dropout: float = 0.3) -> None:
        super().__init__()
        self.net = nn.Sequential(
            Conv2d(channels, 64, 5, 2, "same"), nn.LeakyReLU(slope), Dropout(dropout),
            Conv2d(64, 128, 5, 2, "same"), nn.LeakyReLU(slope), Dropout(dropout),
            nn.Flatten(), nn.Linear(7 * 7 * 128, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


class TutorialDCGAN64Generator(nn.Module):
    """The 64x64 RGB tutorial: z -> Dense 3*3*512 -> 3x3x512 -> LeakyReLU -> ConvT 256 k3 s3 -> BN ->
    ConvT 128 k5 s2 -> BN -> ConvT 3 k4 s3, tanh (all 'valid': 3 -> 9 -> 21 -> 64).

    As written, the tutorial has no activation after its BatchNorm layers, so the two middle
    layers compose into one linear map; ``activation=True`` adds the LeakyReLU it meant to have.
    """

    def __init__(self, z_dim: int = 100, channels: int = 3, activation: bool = False,
                 slope: float = 0.3) -> None:
        super().__init__()

        def act() -> list[nn.Module]:
            return [nn.LeakyReLU(slope)] if activation else []

        self.net = nn.Sequential(
            nn.Linear(z_dim, 3 * 3 * 512), Reshape(512, 3, 3), nn.LeakyReLU(slope),
            ConvTranspose2d(512, 256, 3, 3, "valid"), keras_batchnorm(256), *act(),
            ConvTranspose2d(256, 128, 5, 2, "valid"), keras_batchnorm(128), *act(),
            ConvTranspose2d(128, channels, 4, 3, "valid"), nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class TutorialDCGAN64Discriminator(nn.Module):
    """Conv 64 k5 s3 -> LeakyReLU -> Conv 128 k5 s3 -> BN -> LeakyReLU -> Conv 256 k5 s3 -> BN ->
    LeakyReLU -> Flatten -> Dense 1 (all 'valid': 64 -> 20 -> 6 -> 1)."""

    def __init__(self, channels: int = 3, slope: float = 0.3) -> None:
        super().__init__()
        self.net = nn.Sequential(
            Conv2d(channels, 64, 5, 3, "valid"), nn.LeakyReLU(slope),
            Conv2d(64, 128, 5, 3, "valid"), keras_batchnorm(128), nn.LeakyReLU(slope),
            Conv2d(128, 256, 5, 3, "valid"), keras_batchnorm(256), nn.LeakyReLU(slope),
            nn.Flatten(), nn.Linear(256, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


class SmallDCGANGenerator(nn.Module):
    """A lean DCGAN for 28x28 (Radford et al. recipe, 4x4 kernels, half the tutorial's width):
    z -> Dense 7*7*2w -> BN -> ReLU -> ConvT w 4x4 s2 -> BN -> ReLU -> ConvT C 4x4 s2, tanh.

    With ``num_classes``, both BatchNorms are class-conditional (see ``conditional``) and
    ``forward(z, y)`` takes the class labels.
    """

    def __init__(self, z_dim: int = 64, channels: int = 1, width: int = 64, num_classes: int | None = None) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.net = nn.Sequential(
            nn.Linear(z_dim, 7 * 7 * 2 * width, bias=False), nn.BatchNorm1d(7 * 7 * 2 * width), nn.ReLU(),
            Reshape(2 * width, 7, 7),
            ConvTranspose2d(2 * width, width, 4, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            ConvTranspose2d(width, channels, 4, 2, 1), nn.Tanh(),
        )
        if num_classes is not None:
            self.net = conditional_sequential(self.net, num_classes)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes is None:
            _no_labels(y)
            return self.net(z)
        return self.net(z, y)


class SmallDCGANDiscriminator(nn.Module):
    """Conv w 4x4 s2 -> LeakyReLU 0.2 -> Conv 2w 4x4 s2 -> LeakyReLU 0.2 -> Dense 1 (no BN, no dropout).

    With ``num_classes``, the Dense layer is a projection head, ``psi(h) + <embed(y), h>`` on the
    flattened features ``h``, and ``forward(x, y)`` takes the class labels.
    """

    def __init__(self, channels: int = 1, width: int = 64, num_classes: int | None = None) -> None:
        super().__init__()
        self.num_classes = num_classes
        features = 7 * 7 * 2 * width
        self.net = nn.Sequential(
            Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2),
            Conv2d(width, 2 * width, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Flatten(), *([nn.Linear(features, 1)] if num_classes is None else []),
        )
        self.head = ProjectionHead(features, num_classes) if num_classes is not None else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.head is None:
            _no_labels(y)
            return self.net(x).squeeze(1)
        return self.head(self.net(x), y)


def _no_labels(y: torch.Tensor | None) -> None:
    if y is not None:
        raise ValueError("this model is unconditional: it takes no class labels")


class PyTorchDCGANGenerator(nn.Module):
    """The generator of the PyTorch DCGAN tutorial and pytorch/examples' ``dcgan/main.py`` (Radford et al.):
    z (as nz x 1 x 1) -> ConvT 8w 4x4 s1 -> 4x4, then ConvT 4w, 2w, w, C, each 4x4 s2 p1 (to 64x64), no biases,
    BatchNorm + ReLU between, tanh at the end. The layers sit in ``main`` as there, so the state dicts match."""

    def __init__(self, z_dim: int = 100, channels: int = 3, width: int = 64) -> None:
        super().__init__()
        w = width

        def up(cin: int, cout: int) -> list[nn.Module]:
            return [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]

        self.main = nn.Sequential(
            nn.ConvTranspose2d(z_dim, w * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(w * 8), nn.ReLU(True),
            *up(w * 8, w * 4), *up(w * 4, w * 2), *up(w * 2, w),
            nn.ConvTranspose2d(w, channels, 4, 2, 1, bias=False), nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z.view(z.shape[0], -1, 1, 1))


class PyTorchDCGANDiscriminator(nn.Module):
    """Its discriminator: Conv w, 2w, 4w, 8w, each 4x4 s2 p1 with LeakyReLU 0.2 (BatchNorm after all but the
    first), then Conv 1 4x4 s1 p0: one logit per 64x64 image (the program's Sigmoid lives in the loss)."""

    def __init__(self, channels: int = 3, width: int = 64) -> None:
        super().__init__()
        w = width

        def down(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, True)]

        self.main = nn.Sequential(
            nn.Conv2d(channels, w, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True),
            *down(w, w * 2), *down(w * 2, w * 4), *down(w * 4, w * 8),
            nn.Conv2d(w * 8, 1, 4, 1, 0, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).view(-1)
