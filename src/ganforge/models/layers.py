"""Layers with Keras semantics, so the tutorial presets compute what the tutorials computed.

Keras and PyTorch differ in three places that change results:
- 'same' padding with stride > 1 is asymmetric in Keras (the extra pixel goes after), for
  convolutions and transposed convolutions alike; PyTorch pads symmetrically.
- BatchNormalization momentum is the weight of the old average (0.99) in Keras and of the new
  batch (0.1) in PyTorch; Keras' epsilon is 1e-3, PyTorch's 1e-5.
- Keras initialises kernels with glorot_uniform and biases with zeros.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) padding that Keras/TF 'same' uses for a convolution over ``size`` pixels."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` that also accepts Keras ``padding='same'`` for any stride (asymmetric pads)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1,
                 padding: str | int = "same", bias: bool = True) -> None:
        self.keras_padding = padding if isinstance(padding, str) else None
        torch_padding = 0 if isinstance(padding, str) else padding
        super().__init__(in_ch, out_ch, kernel, stride, torch_padding, bias=bias)
        if self.keras_padding not in (None, "same", "valid"):
            raise ValueError(f"padding must be 'same', 'valid' or an int, got {padding!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.keras_padding == "same":
            k, s = self.kernel_size[0], self.stride[0]
            top, bottom = _same_pads(x.shape[-2], k, s)
            left, right = _same_pads(x.shape[-1], k, s)
            if bottom > top or right > left:
                # Only the surplus after goes into an explicit pad; the convolution pads the rest
                # itself, so its input gradient is not computed for a full border of zeros.
                x = F.pad(x, (0, right - left, 0, bottom - top))
            return F.conv2d(x, self.weight, self.bias, self.stride, (top, left))
        return super().forward(x)


class ConvTranspose2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` with Keras padding: 'same' gives ``in * stride`` pixels, 'valid' the
    full ``(in - 1) * stride + kernel``.

    TF's 'same' transpose is the adjoint of a 'same' convolution, so it crops ``(k - s) // 2`` pixels
    before and the rest after; PyTorch's ``padding`` crops equally on both sides, which shifts the
    image by one pixel for even ``k - s``. We crop the smaller amount with ``padding`` and slice
    off the remainder.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1,
                 padding: str = "same", bias: bool = True) -> None:
        if padding not in ("same", "valid"):
            raise ValueError(f"padding must be 'same' or 'valid', got {padding!r}")
        crop = max(kernel - stride, 0) if padding == "same" else 0
        self.crop_after = crop - crop // 2 - crop // 2
        super().__init__(in_ch, out_ch, kernel, stride, padding=crop // 2, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)
        if self.crop_after:
            c = self.crop_after
            cl = y.is_contiguous(memory_format=torch.channels_last) and not y.is_contiguous()
            y = y[..., : y.shape[-2] - c, : y.shape[-1] - c]
            # A cropped view is neither layout; BatchNorm on it takes a strided path 15x slower than
            # one copy back into the layout the convolution chose.
            y = y.contiguous(memory_format=torch.channels_last if cl else torch.contiguous_format)
        return y


class Dropout(nn.Dropout):
    """``nn.Dropout`` with the same distribution (each unit kept with probability 1 - p, scaled by
    1 / (1 - p)), drawn as uniform > p as TF does: torch's CPU ``bernoulli_`` is 2.5x slower than
    ``rand`` and made dropout 7% of a dcgan-28 step."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        if self.p == 1.0:
            return x * 0.0
        keep = torch.rand_like(x).ge_(self.p).mul_(1.0 / (1.0 - self.p))
        return x * keep


def keras_batchnorm(num_features: int, dims: int = 2, momentum: float = 0.99,
                    eps: float = 1e-3) -> nn.Module:
    """BatchNorm with Keras' meaning of momentum (weight of the old moving average)."""
    cls = nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d
    return cls(num_features, eps=eps, momentum=1.0 - momentum)


def init_weights(module: nn.Module, scheme: str) -> None:
    """Initialise every conv/linear layer of ``module`` in place.

    - ``keras``: glorot_uniform kernels, zero biases (Keras' defaults).
    - ``dcgan``: N(0, 0.02) kernels, zero biases, BatchNorm gamma N(1, 0.02) (Radford et al.).
    - ``torch``: leave PyTorch's defaults.
    """
    if scheme == "torch":
        return
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            if scheme == "keras":
                nn.init.xavier_uniform_(m.weight)
            elif scheme == "dcgan":
                nn.init.normal_(m.weight, 0.0, 0.02)
            else:
                raise ValueError(f"unknown init scheme {scheme!r}")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) and scheme == "dcgan":
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class Reshape(nn.Module):
    def __init__(self, *shape: int) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"
