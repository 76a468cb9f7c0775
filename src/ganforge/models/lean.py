"""The lean colour DCGANs: ganforge's fast family for 32x32 and 64x64 RGB on a CPU.

G: z -> Dense 4*4*(w * 2^(k-1)) -> BatchNorm -> ReLU -> k transposed convolutions 4x4 s2, the channels halving
each time, BatchNorm + ReLU between, tanh at the end (k = 3 for 32 px, 4 for 64 px). D mirrors it: k
convolutions 4x4 s2 from w channels up, LeakyReLU 0.2 and no normalisation (so DiffAugment and the penalties
see each image on its own), then a dense logit. With ``num_classes``, G's BatchNorms are class-conditional
and D ends in a projection head, as the 28 px lean DCGAN.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .conditional import ProjectionHead, conditional_sequential
from .layers import Reshape

RESOLUTIONS = (32, 64)


def _levels(resolution: int) -> int:
    if resolution not in RESOLUTIONS:
        raise ValueError(f"the lean colour DCGAN makes {' or '.join(map(str, RESOLUTIONS))} pixel images, "
                         f"got {resolution}")
    return int(math.log2(resolution // 4))


class LeanGenerator(nn.Module):
    def __init__(self, z_dim: int = 64, channels: int = 3, resolution: int = 32, width: int = 32,
                 num_classes: int | None = None) -> None:
        super().__init__()
        self.num_classes = num_classes
        k = _levels(resolution)
        top = width * 2 ** (k - 1)
        layers: list[nn.Module] = [nn.Linear(z_dim, 4 * 4 * top, bias=False), nn.BatchNorm1d(4 * 4 * top), nn.ReLU(),
                                   Reshape(top, 4, 4)]
        cin = top
        for _ in range(k - 1):
            layers += [nn.ConvTranspose2d(cin, cin // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(cin // 2), nn.ReLU()]
            cin //= 2
        layers += [nn.ConvTranspose2d(cin, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        if num_classes is not None:
            self.net = conditional_sequential(self.net, num_classes)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if (y is None) != (self.num_classes is None):
            raise ValueError("a conditional generator needs class labels y; an unconditional one takes none")
        return self.net(z) if y is None else self.net(z, y)


class LeanDiscriminator(nn.Module):
    def __init__(self, channels: int = 3, resolution: int = 32, width: int = 32,
                 num_classes: int | None = None) -> None:
        super().__init__()
        self.num_classes = num_classes
        k = _levels(resolution)
        layers: list[nn.Module] = []
        cin, cout = channels, width
        for _ in range(k):
            layers += [nn.Conv2d(cin, cout, 4, 2, 1), nn.LeakyReLU(0.2)]
            cin, cout = cout, cout * 2
        features = cin * 4 * 4
        layers.append(nn.Flatten())
        if num_classes is None:
            layers.append(nn.Linear(features, 1))
        self.net = nn.Sequential(*layers)
        self.head = ProjectionHead(features, num_classes) if num_classes is not None else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if (y is None) != (self.num_classes is None):
            raise ValueError("a conditional discriminator needs class labels y; an unconditional one takes none")
        return self.net(x).squeeze(1) if self.head is None else self.head(self.net(x), y)
