"""Layers with Keras semantics, so the tutorial presets compute what the tutorials computed.

Keras and PyTorch differ in four places that change results:
- 'same' padding with stride > 1 is asymmetric in Keras (the extra pixel goes after), for
  convolutions and transposed convolutions alike; PyTorch pads symmetrically.
- BatchNormalization momentum is the weight of the old average (0.99) in Keras and of the new
  batch (0.1) in PyTorch; Keras' epsilon is 1e-3, PyTorch's 1e-5.
- Keras initialises kernels with glorot_uniform and biases with zeros.
- Keras' dropout keeps a unit where a uniform number is >= p; PyTorch draws Bernoulli numbers: the
  same distribution from another random stream.

Each layer does its arithmetic in one small method (``_conv``, ``_transposed``, ``_uniform``), which
``ganforge.accel`` overrides with faster routes to the same numbers.
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
            return self._conv(x, (top, left))
        return self._conv(x, self.padding)

    def _conv(self, x: torch.Tensor, padding: tuple[int, int]) -> torch.Tensor:
        """The convolution itself, with symmetric ``padding``: the arithmetic, which a subclass may do
        another way (``ganforge.accel``)."""
        return F.conv2d(x, self.weight, self.bias, self.stride, padding)


class ConvTranspose2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` (an int ``padding`` as PyTorch's) that also takes Keras padding: 'same'
    gives ``in * stride`` pixels, 'valid' the full ``(in - 1) * stride + kernel``.

    TF's 'same' transpose is the adjoint of a 'same' convolution, so it crops ``(k - s) // 2`` pixels
    before and the rest after; PyTorch's ``padding`` crops equally on both sides, which shifts the
    image by one pixel for even ``k - s``. We crop the smaller amount with ``padding`` and slice
    off the remainder.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1,
                 padding: str | int = "same", bias: bool = True) -> None:
        if isinstance(padding, int):  # PyTorch's own padding
            self.crop_after, torch_padding = 0, padding
        elif padding in ("same", "valid"):
            crop = max(kernel - stride, 0) if padding == "same" else 0
            self.crop_after, torch_padding = crop - crop // 2 - crop // 2, crop // 2
        else:
            raise ValueError(f"padding must be 'same', 'valid' or an int, got {padding!r}")
        super().__init__(in_ch, out_ch, kernel, stride, padding=torch_padding, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self._transposed(x)
        if self.crop_after:
            # A negative pad crops into a fresh tensor of the convolution's layout (a sliced view is
            # neither layout, and BatchNorm takes a strided path 15x slower on it), and its backward is
            # one pad where a slice's is two zero-filled copies: 3.8 against 10.2 ms at dcgan-28's size.
            y = F.pad(y, (0, -self.crop_after, 0, -self.crop_after))
        return y

    def _transposed(self, x: torch.Tensor) -> torch.Tensor:
        """The transposed convolution before the crop: the arithmetic, which a subclass may do another
        way (``ganforge.accel``)."""
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, self.output_padding)


class Dropout(nn.Dropout):
    """Keras' dropout: each unit kept where a uniform number is >= p, as TF draws it, and scaled by
    1 / (1 - p). The distribution is ``nn.Dropout``'s, the random stream is not (torch draws Bernoulli
    numbers), and runs resume on the stream they started with."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        if self.p == 1.0:
            return x * 0.0
        keep = self._uniform(x).ge_(self.p).mul_(1.0 / (1.0 - self.p))
        return x * keep

    def _uniform(self, x: torch.Tensor) -> torch.Tensor:
        """Uniform numbers on [0, 1) shaped like ``x``, in its layout, from the global generator."""
        return torch.rand_like(x)


def keras_batchnorm(num_features: int, dims: int = 2, momentum: float = 0.99,
                    eps: float = 1e-3) -> nn.Module:
    """BatchNorm with Keras' meaning of momentum (weight of the old moving average)."""
    cls = nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d
    return cls(num_features, eps=eps, momentum=1.0 - momentum)


INIT_SCHEMES = ("keras", "dcgan", "torch")


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
