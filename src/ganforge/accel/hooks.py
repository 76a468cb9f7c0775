"""torch's plain convolutions given the arithmetic hooks of the Keras layers (``models.layers``):
``_conv(x, padding)`` and ``_transposed(x)``. An accelerated subclass overrides only the hook, so one
subclass serves a Keras layer and a plain one alike; ``apply`` puts these adapters under it for the plain ones."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvHook(nn.Conv2d):
    """``nn.Conv2d`` whose forward goes through ``_conv`` (zero padding given as numbers)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.padding_mode != "zeros" or isinstance(self.padding, str):
            return super().forward(x)
        return self._conv(x, self.padding)

    def _conv(self, x: torch.Tensor, padding: tuple[int, ...]) -> torch.Tensor:
        return F.conv2d(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)


class TransposedHook(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` whose forward goes through ``_transposed`` (unless given an output size)."""

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if output_size is not None or self.padding_mode != "zeros":
            return super().forward(x, output_size)
        return self._transposed(x)

    def _transposed(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, self.output_padding,
                                  self.groups, self.dilation)


def hook_for(cls: type) -> tuple[type, ...]:
    """The adapter a layer class needs under an accelerated subclass: none for a class with the hook."""
    if issubclass(cls, nn.Conv2d) and not hasattr(cls, "_conv"):
        return (ConvHook,)
    if issubclass(cls, nn.ConvTranspose2d) and not hasattr(cls, "_transposed"):
        return (TransposedHook,)
    return ()
