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
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from . import fourier


def _same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) padding that Keras/TF 'same' uses for a convolution over ``size`` pixels."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


# ---- image-end convolutions on the CPU ---------------------------------------------------------------
# A generator's last transposed convolution (to 1-4 channels) and the input gradient of a discriminator's
# first convolution (from 1-4 channels) are the same operation, and oneDNN runs it at about a tenth of
# its usual speed (15 ms for dcgan-28's 64 -> 1 layer at batch 256 on 2 Zen 4 cores; a matmul and a
# col2im take 4 ms). So on the CPU those two take that route; the maths is the same up to rounding.
NARROW_CHANNELS = 4


def _image_end_path(x: torch.Tensor, channels: int) -> bool:
    """Whether a convolution with ``channels`` at its image end takes the matmul + col2im route."""
    if torch.jit.is_tracing() or torch.compiler.is_compiling():  # exporters and compilers see the plain op
        return False
    return (channels <= NARROW_CHANNELS and x.device.type == "cpu" and x.dtype == torch.float32
            and not torch.is_autocast_enabled("cpu"))


def _fourier_path(x: torch.Tensor, weight: torch.Tensor, stride: tuple[int, int], padding: tuple[int, int],
                  output_padding: tuple[int, int]) -> bool:
    """Whether a transposed convolution takes the Fourier route: on the CPU, stride 1, a square kernel
    and padding, and at most half the direct multiply-adds (dcgan-28's 7x7 256 -> 128 5x5 layer)."""
    if torch.jit.is_tracing() or torch.compiler.is_compiling() or not fourier.enabled():
        return False
    autocast = torch.is_autocast_enabled("cpu")
    if x.device.type != "cpu" or x.dtype not in ((torch.float32, torch.bfloat16) if autocast else (torch.float32,)):
        return False
    (kh, kw), (h, w) = weight.shape[-2:], x.shape[-2:]
    if tuple(stride) != (1, 1) or any(output_padding) or kh != kw or padding[0] != padding[1]:
        return False
    return fourier.fourier_pays(x.shape[0], h, w, weight.shape[0], weight.shape[1], kh, padding[0])


def _col2im(cols: torch.Tensor, weight: torch.Tensor, size: tuple[int, int], stride: tuple[int, int],
            padding: tuple[int, int]) -> torch.Tensor:
    """The transposed convolution of ``cols`` (B, Cin, L) with ``weight`` (Cin, Cout, kh, kw) to ``size``."""
    cin, cout, kh, kw = weight.shape
    blocks = torch.matmul(weight.reshape(cin, cout * kh * kw).t(), cols)  # (B, Cout*kh*kw, L)
    return F.fold(blocks, size, (kh, kw), padding=padding, stride=stride)


def conv_transpose2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride: tuple[int, int],
                     padding: tuple[int, int], output_padding: tuple[int, int]) -> torch.Tensor:
    """``F.conv_transpose2d`` (groups 1, dilation 1), through a matmul and col2im for few output channels
    on the CPU (autograd differentiates it as it stands: col2im's adjoint is im2col), and through the
    Fourier domain where that does far fewer multiply-adds (``fourier``)."""
    if _fourier_path(x, weight, stride, padding, output_padding):
        # Under autocast, in its dtype: transforms and products in bf16 with fp32 accumulation, as oneDNN's bf16
        # convolution (relative error 0.46% against its 0.29% at dcgan-28's layer, and 3.4x faster).
        dtype = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else torch.float32
        with torch.autocast("cpu", enabled=False):
            y = fourier.fourier_conv_transpose2d(x.to(dtype), weight.to(dtype), padding[0])
            return y if bias is None else y + bias.to(dtype).view(1, -1, 1, 1)
    if not _image_end_path(x, weight.shape[1]):
        return F.conv_transpose2d(x, weight, bias, stride, padding, output_padding)
    (h, w), (kh, kw) = x.shape[-2:], weight.shape[-2:]
    size = tuple((n - 1) * s - 2 * p + k + o for n, s, p, k, o in zip((h, w), stride, padding, (kh, kw),
                                                                      output_padding))
    y = _col2im(x.flatten(2), weight, size, stride, padding)
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        y = y.contiguous(memory_format=torch.channels_last)  # the layout the convolution would give (free for C=1)
    return y if bias is None else y + bias.view(1, -1, 1, 1)


class _ImageInputConv2d(torch.autograd.Function):
    """``F.conv2d`` whose input gradient, a transposed convolution to the few input channels, is a
    matmul and col2im; the forward and the weight gradient stay with oneDNN, where they are fast."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                stride: tuple[int, int], padding: tuple[int, int]) -> torch.Tensor:
        ctx.save_for_backward(x, weight, bias)
        ctx.stride, ctx.padding = stride, padding
        return F.conv2d(x, weight, bias, stride, padding)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        # Every op here is differentiable, so a double backward (R1, the gradient penalty) works too.
        x, weight, bias = ctx.saved_tensors
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = _col2im(grad.flatten(2), weight, x.shape[-2:], ctx.stride, ctx.padding)
        if ctx.needs_input_grad[1]:
            grad_w = torch.ops.aten.convolution_backward(grad, x, weight, None, ctx.stride, ctx.padding, (1, 1),
                                                         False, (0, 0), 1, (False, True, False))[1]
        if bias is not None and ctx.needs_input_grad[2]:
            grad_b = grad.sum((0, 2, 3))
        return grad_x, grad_w, grad_b, None, None


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` that also accepts Keras ``padding='same'`` for any stride (asymmetric pads), and
    computes its input gradient for image inputs the fast way on the CPU (see ``conv2d``)."""

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
            return conv2d(x, self.weight, self.bias, self.stride, (top, left))
        return conv2d(x, self.weight, self.bias, self.stride, self.padding)


def conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride: tuple[int, int],
           padding: tuple[int, int]) -> torch.Tensor:
    """``F.conv2d`` (groups 1, dilation 1) whose input gradient goes through a matmul and col2im for
    few input channels on the CPU."""
    if not (_image_end_path(x, weight.shape[1]) and torch.is_grad_enabled() and x.requires_grad):
        return F.conv2d(x, weight, bias, stride, padding)
    return _ImageInputConv2d.apply(x, weight, bias, tuple(stride), tuple(padding))


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
        y = conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, self.output_padding)
        if self.crop_after:
            # A negative pad crops into a fresh tensor of the convolution's layout (a sliced view is
            # neither layout, and BatchNorm takes a strided path 15x slower on it), and its backward is
            # one pad where a slice's is two zero-filled copies: 3.8 against 10.2 ms at dcgan-28's size.
            y = F.pad(y, (0, -self.crop_after, 0, -self.crop_after))
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
        keep = uniform_like(x).ge_(self.p).mul_(1.0 / (1.0 - self.p))
        return x * keep


PARALLEL_RNG_MIN = 1 << 20  # elements from which two threads draw a CPU tensor's random numbers
_rng_thread: ThreadPoolExecutor | None = None


def uniform_like(x: torch.Tensor) -> torch.Tensor:
    """``torch.rand_like(x)``; on a CPU with several threads, a large tensor is drawn in two halves at
    once, each from its own generator seeded from the global one (so runs stay reproducible and
    resumable from the global RNG state). torch's CPU generator is one serial Mersenne twister, and
    dcgan-28's dropout masks, 9.6 million numbers a step, took 6% of the step on one core."""
    global _rng_thread
    n = x.numel()
    if x.device.type != "cpu" or n < PARALLEL_RNG_MIN or torch.get_num_threads() < 2:
        return torch.rand_like(x)
    if _rng_thread is None:
        _rng_thread = ThreadPoolExecutor(1, thread_name_prefix="ganforge-rng")
    out = torch.empty_like(x)
    flat = out.as_strided((n,), (1,))  # empty_like is dense: these are all of its elements, in memory order
    seed_a, seed_b = torch.randint(0, 2**62, (2,)).tolist()
    half = n // 2
    other = _rng_thread.submit(flat[half:].uniform_, generator=torch.Generator().manual_seed(seed_b))
    flat[:half].uniform_(generator=torch.Generator().manual_seed(seed_a))
    other.result()
    return out


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
