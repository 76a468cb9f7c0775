"""SNGAN-style ResNet generator and discriminator (Miyato et al. 2018; the blocks of Gulrajani et
al. 2017) for 28, 32 and 64 pixel images, one or three channels, width configurable.

G: z -> Linear -> s0 x s0 x 4w -> up-blocks -> BN -> ReLU -> conv 3x3 -> tanh, where s0 is 7 for
28 px and 4 for 32/64 px. D: an optimised first down-block, more down-blocks, then ReLU, a sum over
space and a linear layer: one logit per image. Spectral normalisation is a training option
(``spectral_norm``), applied from outside, so these modules stay plain.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from .conditional import ConditionalBatchNorm2d, call

Norm = Callable[[int], nn.Module]  # channels -> a normalisation layer; swap it for conditional BN

# (start size, channel multipliers of the generator's blocks from the start size up)
_G_PLAN = {28: (7, (4, 2, 1)), 32: (4, (4, 4, 4, 4)), 64: (4, (8, 8, 4, 2, 1))}
# channel multipliers of the discriminator's blocks; True where the block halves the size
_D_PLAN = {28: ((1, True), (2, True), (2, False)), 32: ((1, True), (2, True), (2, False), (2, False)),
           64: ((1, True), (2, True), (4, True), (8, True))}
SIZES = tuple(_G_PLAN)


def _check_size(size: int) -> None:
    if size not in _G_PLAN:
        raise ValueError(f"ResNet models support sizes {SIZES}, got {size}")


class GBlock(nn.Module):
    """norm -> ReLU -> upsample x2 -> conv 3x3 -> norm -> ReLU -> conv 3x3, plus upsample -> conv 1x1."""

    def __init__(self, cin: int, cout: int, norm: Norm = nn.BatchNorm2d) -> None:
        super().__init__()
        self.norm1, self.norm2 = norm(cin), norm(cout)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.skip = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = F.interpolate(F.relu(call(self.norm1, x, y)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(call(self.norm2, self.conv1(h), y)))
        return h + self.skip(F.interpolate(x, scale_factor=2, mode="nearest"))


class DBlock(nn.Module):
    """ReLU -> conv 3x3 -> ReLU -> conv 3x3 (-> avg-pool), plus conv 1x1 (-> avg-pool). The first
    block skips the leading ReLU and pools before its 1x1 conv (SNGAN's optimised block)."""

    def __init__(self, cin: int, cout: int, down: bool, first: bool = False) -> None:
        super().__init__()
        self.down, self.first = down, first
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.skip = nn.Conv2d(cin, cout, 1, 1, 0) if (cin != cout or down) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.relu(x)
        h = self.conv2(F.relu(self.conv1(h)))
        if self.down:
            h = F.avg_pool2d(h, 2)
        s = x
        if self.first:
            s = self.skip(F.avg_pool2d(s, 2) if self.down else s)
        elif self.skip is not None:
            s = self.skip(s)
            s = F.avg_pool2d(s, 2) if self.down else s
        return h + s


class ResNetGenerator(nn.Module):
    """With ``num_classes``, every BatchNorm is class-conditional and ``forward(z, y)`` takes the labels."""

    def __init__(self, z_dim: int = 128, channels: int = 1, size: int = 32, width: int = 64,
                 norm: Norm = nn.BatchNorm2d, num_classes: int | None = None) -> None:
        super().__init__()
        _check_size(size)
        self.num_classes = num_classes
        if num_classes is not None:
            norm = partial(ConditionalBatchNorm2d, num_classes=num_classes)
        start, mults = _G_PLAN[size]
        self.start, self.c0 = start, mults[0] * width
        self.fc = nn.Linear(z_dim, start * start * self.c0)
        self.blocks = nn.ModuleList(GBlock(a * width, b * width, norm) for a, b in zip(mults, mults[1:]))
        self.norm = norm(mults[-1] * width)
        self.out = nn.Conv2d(mults[-1] * width, channels, 3, 1, 1)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if (y is None) != (self.num_classes is None):
            raise ValueError("a conditional generator needs class labels y; an unconditional one takes none")
        h = self.fc(z).view(z.shape[0], self.c0, self.start, self.start)
        for block in self.blocks:
            h = block(h, y)
        return torch.tanh(self.out(F.relu(call(self.norm, h, y))))


class ResNetDiscriminator(nn.Module):
    """With ``num_classes``, a projection discriminator (Miyato & Koyama 2018): the logit gains
    ``<embed(y), h>`` on the pooled features ``h``, and ``forward(x, y)`` takes the labels."""

    def __init__(self, channels: int = 1, size: int = 32, width: int = 64, num_classes: int | None = None) -> None:
        super().__init__()
        _check_size(size)
        self.num_classes = num_classes
        blocks, cin = [], channels
        for i, (mult, down) in enumerate(_D_PLAN[size]):
            blocks.append(DBlock(cin, mult * width, down, first=i == 0))
            cin = mult * width
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, 1)
        self.embed = nn.Embedding(num_classes, cin) if num_classes is not None else None
        if self.embed is not None:
            nn.init.xavier_uniform_(self.embed.weight)  # as the authors' code

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if (y is None) != (self.num_classes is None):
            raise ValueError("a conditional discriminator needs class labels y; an unconditional one takes none")
        h = F.relu(self.blocks(x)).sum(dim=(2, 3))  # global sum pooling, as SNGAN
        out = self.fc(h).squeeze(1)
        return out if self.embed is None else out + (self.embed(y) * h).sum(1)
