"""Fully connected GANs: the MLP tutorials' generator and discriminator."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from .layers import Dropout, Reshape, keras_batchnorm


class MLPGenerator(nn.Module):
    """z -> [Dense, LeakyReLU, (BatchNorm)] x len(hidden) -> Dense(C*H*W), tanh -> C x H x W."""

    def __init__(self, z_dim: int, image_shape: Sequence[int], hidden: Sequence[int] = (256, 512, 1024),
                 slope: float = 0.2, bn_momentum: float | None = None) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = z_dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.LeakyReLU(slope)]
            if bn_momentum is not None:  # the SGD tutorial puts BN after the activation
                layers.append(keras_batchnorm(h, dims=1, momentum=bn_momentum))
            width = h
        layers += [nn.Linear(width, math.prod(image_shape)), nn.Tanh(), Reshape(*image_shape)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class MLPDiscriminator(nn.Module):
    """Flatten -> [Dense, LeakyReLU, (Dropout)] x len(hidden) -> Dense 1 (a logit)."""

    def __init__(self, image_shape: Sequence[int], hidden: Sequence[int] = (512, 256),
                 slope: float = 0.2, dropout: float = 0.0) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(image_shape)
        for h in hidden:
            layers += [nn.Linear(width, h), nn.LeakyReLU(slope)]
            if dropout:
                layers.append(Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)
