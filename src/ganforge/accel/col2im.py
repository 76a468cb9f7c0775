"""Convolutions with at most 4 channels at the image end, as a matmul and col2im on the CPU.

A generator's last transposed convolution (to 1-4 channels) and the input gradient of a discriminator's
convolutions from 1-4 channels are the same operation, and oneDNN runs it at about a tenth of its usual
speed (15 ms for dcgan-28's 64 -> 1 layer at batch 256 on 2 Zen 4 cores; a matmul and a col2im take 4 ms).
So on the CPU those two take that route; the maths is the same up to rounding. It pays for small images
only: whole train steps measured with ``bench/throughput.py --accel`` on 2 Xeon cores (AVX-512) were 7%
faster for dcgan-28-fast (28 px) with the route, 5% slower for dcgan-32-rgb-fast and 18% slower for
dcgan-64-rgb-fast, so images of 32 px and more keep oneDNN's op.

Which layers: every transposed convolution to <= 4 channels, and, in a model that reads images (its
first layer with weights is a convolution: a discriminator, not a generator), every convolution from
<= 4 channels. A generator's narrow convolutions (a ResNet's at width 4 or less) stay with oneDNN, as
they did in ganforge 0.1.0, whose runs resume here bit for bit.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

NARROW_CHANNELS = 4
MAX_SIDE = 31  # images of 32 px and more: the route loses (see above)


def _takes_route(x: torch.Tensor, channels: int, image: tuple[int, int]) -> bool:
    """Whether a convolution with ``channels`` at its image end, an ``image`` of (height, width), takes the
    matmul + col2im route for ``x``."""
    if torch.jit.is_tracing() or torch.compiler.is_compiling():  # exporters and compilers see the plain op
        return False
    return (channels <= NARROW_CHANNELS and max(image) <= MAX_SIDE and x.device.type == "cpu"
            and x.dtype == torch.float32 and not torch.is_autocast_enabled("cpu"))


def _col2im(cols: torch.Tensor, weight: torch.Tensor, size: tuple[int, int], stride: tuple[int, int],
            padding: tuple[int, int]) -> torch.Tensor:
    """The transposed convolution of ``cols`` (B, Cin, L) with ``weight`` (Cin, Cout, kh, kw) to ``size``."""
    cin, cout, kh, kw = weight.shape
    blocks = torch.matmul(weight.reshape(cin, cout * kh * kw).t(), cols)  # (B, Cout*kh*kw, L)
    return F.fold(blocks, size, (kh, kw), padding=padding, stride=stride)


def conv_transpose2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride: tuple[int, int],
                     padding: tuple[int, int], output_padding: tuple[int, int]) -> torch.Tensor:
    """``F.conv_transpose2d`` (groups 1, dilation 1), through a matmul and col2im for few output channels
    on the CPU (autograd differentiates it as it stands: col2im's adjoint is im2col)."""
    (h, w), (kh, kw) = x.shape[-2:], weight.shape[-2:]
    size = tuple((n - 1) * s - 2 * p + k + o for n, s, p, k, o in zip((h, w), stride, padding, (kh, kw),
                                                                      output_padding))
    if not _takes_route(x, weight.shape[1], size):
        return F.conv_transpose2d(x, weight, bias, stride, padding, output_padding)
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


def conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride: tuple[int, int],
           padding: tuple[int, int]) -> torch.Tensor:
    """``F.conv2d`` (groups 1, dilation 1) whose input gradient goes through a matmul and col2im for
    few input channels on the CPU."""
    if not (_takes_route(x, weight.shape[1], x.shape[-2:]) and torch.is_grad_enabled() and x.requires_grad):
        return F.conv2d(x, weight, bias, stride, padding)
    return _ImageInputConv2d.apply(x, weight, bias, tuple(stride), tuple(padding))


# ---- the layers -----------------------------------------------------------------------------------------

def _plain_geometry(layer: nn.Module) -> bool:
    return layer.groups == 1 and tuple(layer.dilation) == (1, 1) and layer.padding_mode == "zeros"


def reads_images(model: nn.Module) -> bool:
    """Whether ``model``'s first layer with weights (in registration order) is a convolution: it takes
    images in, where a generator starts with a dense layer (or an embedding) from the latent."""
    first = next((m for m in model.modules() if isinstance(m, (nn.Linear, nn.Embedding, nn.modules.conv._ConvNd))),
                 None)
    return isinstance(first, nn.Conv2d)


def conv_eligible(layer: nn.Module) -> bool:
    """A convolution from <= 4 channels (numbers for padding, groups and dilation 1)."""
    return (isinstance(layer, nn.Conv2d) and layer.in_channels <= NARROW_CHANNELS and _plain_geometry(layer)
            and not isinstance(layer.padding, str))


def transposed_eligible(layer: nn.Module) -> bool:
    """A transposed convolution to <= 4 channels (groups and dilation 1)."""
    return (isinstance(layer, nn.ConvTranspose2d) and layer.out_channels <= NARROW_CHANNELS
            and _plain_geometry(layer))


class Col2imConv2d(nn.Conv2d):
    """A convolution from few channels whose input gradient is a matmul and col2im on the CPU.
    ``ganforge.accel.apply`` gives an eligible layer this class; it is never built directly."""

    def _conv(self, x: torch.Tensor, padding: tuple[int, int]) -> torch.Tensor:
        return conv2d(x, self.weight, self.bias, self.stride, padding)


class Col2imConvTranspose2d(nn.ConvTranspose2d):
    """A transposed convolution to few channels computed as a matmul and col2im on the CPU.
    ``ganforge.accel.apply`` gives an eligible layer this class; it is never built directly."""

    def _transposed(self, x: torch.Tensor) -> torch.Tensor:
        return conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, self.output_padding)
