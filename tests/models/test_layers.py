"""Keras-semantics layers: 'same' padding alignment, transposed convs as adjoints, BN constants."""

import pytest
import torch

from ganforge.models.layers import Conv2d, ConvTranspose2d, Dropout, keras_batchnorm
from helpers import assert_dropout_of_p_03


@pytest.mark.parametrize("size,kernel,stride", [(28, 5, 2), (14, 5, 2), (7, 5, 1), (28, 4, 2), (9, 3, 3)])
def test_same_conv_output_size_and_alignment(size, kernel, stride):
    conv = Conv2d(1, 1, kernel, stride, "same", bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, kernel // 2, kernel // 2] = 1.0  # picks the kernel-centre pixel
    x = torch.arange(size * size, dtype=torch.float32).view(1, 1, size, size)
    y = conv(x)
    out = -(-size // stride)
    assert y.shape[-2:] == (out, out)
    # TF 'same': pad_before = total // 2, so output i looks at input i*stride + k//2 - pad_before
    total = max((out - 1) * stride + kernel - size, 0)
    before = total // 2
    for i in range(out):
        src = i * stride + kernel // 2 - before
        if 0 <= src < size:
            assert y[0, 0, i, i] == x[0, 0, src, src]


@pytest.mark.parametrize("size,kernel,stride", [(7, 5, 1), (7, 5, 2), (14, 5, 2), (7, 4, 2)])
def test_same_transpose_is_adjoint_of_same_conv(size, kernel, stride):
    # TF defines conv2d_transpose as the gradient of conv2d, so <T(y), x> == <y, C(x)>.
    torch.manual_seed(0)
    conv = Conv2d(3, 4, kernel, stride, "same", bias=False)
    convt = ConvTranspose2d(4, 3, kernel, stride, "same", bias=False)
    with torch.no_grad():
        convt.weight.copy_(conv.weight)
    x = torch.randn(2, 3, size * stride, size * stride, dtype=torch.float64)
    y = torch.randn(2, 4, size, size, dtype=torch.float64)
    conv, convt = conv.double(), convt.double()
    assert convt(y).shape == x.shape
    assert torch.allclose((convt(y) * x).sum(), (y * conv(x)).sum(), atol=1e-9)


@pytest.mark.parametrize("size,kernel,stride,expected", [(3, 3, 3, 9), (9, 5, 2, 21), (21, 4, 3, 64)])
def test_valid_transpose_sizes(size, kernel, stride, expected):
    convt = ConvTranspose2d(2, 2, kernel, stride, "valid")
    assert convt(torch.zeros(1, 2, size, size)).shape[-1] == expected


def test_keras_batchnorm_constants():
    bn = keras_batchnorm(8)
    assert bn.eps == pytest.approx(1e-3) and bn.momentum == pytest.approx(0.01)
    bn = keras_batchnorm(8, dims=1, momentum=0.8)
    assert isinstance(bn, torch.nn.BatchNorm1d) and bn.momentum == pytest.approx(0.2)


@pytest.mark.parametrize("size,kernel,stride", [(28, 5, 2), (14, 5, 2), (7, 5, 1), (28, 4, 2), (9, 3, 3)])
def test_same_conv_equals_explicit_tf_padding(size, kernel, stride):
    # The layer pads only the surplus itself; the result must equal TF's full (before, after) pad.
    torch.manual_seed(0)
    conv = Conv2d(3, 4, kernel, stride, "same").double()
    x = torch.randn(2, 3, size, size, dtype=torch.float64, requires_grad=True)
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    pads = (total // 2, total - total // 2)
    ref = torch.nn.functional.conv2d(torch.nn.functional.pad(x, pads + pads), conv.weight, conv.bias, stride)
    y = conv(x)
    assert torch.allclose(y, ref, atol=1e-12)
    g = torch.randn_like(y)
    assert torch.allclose(torch.autograd.grad(y, x, g)[0], torch.autograd.grad(ref, x, g)[0], atol=1e-12)


def test_cropped_transpose_output_keeps_the_channels_last_layout():
    # BatchNorm on the cropped view took a strided path 15x slower; the crop is copied back to NHWC.
    convt = ConvTranspose2d(8, 4, 5, 2, "same", bias=False).to(memory_format=torch.channels_last)
    x = torch.randn(3, 8, 7, 7).contiguous(memory_format=torch.channels_last)
    y = convt(x)
    assert y.shape == (3, 4, 14, 14) and y.is_contiguous(memory_format=torch.channels_last)
    ref = torch.nn.functional.conv_transpose2d(x.contiguous(), convt.weight.contiguous(), stride=2, padding=1)
    assert torch.allclose(y, ref[..., :14, :14], atol=1e-6)
    assert ConvTranspose2d(8, 4, 5, 2, "same")(x.contiguous()).is_contiguous()


def test_dropout_keeps_one_minus_p_scaled_and_backpropagates_the_same_mask():
    assert_dropout_of_p_03(Dropout(0.3))
    x = torch.full((4, 10), 2.0)
    assert torch.equal(Dropout(0.0)(x), x) and not Dropout(1.0)(x).any()
    # channels_last input: the mask follows the layout, the output stays NHWC
    xc = torch.randn(4, 8, 5, 5).contiguous(memory_format=torch.channels_last)
    assert Dropout(0.5)(xc).is_contiguous(memory_format=torch.channels_last)


def test_each_layer_does_its_arithmetic_in_one_overridable_method():
    # ganforge.accel overrides these; the Keras semantics (padding, crop, scaling) stay in forward.
    seen = []

    class Conv(Conv2d):
        def _conv(self, x, padding):
            seen.append(("conv", tuple(padding)))
            return super()._conv(x, padding)

    class Transposed(ConvTranspose2d):
        def _transposed(self, x):
            seen.append(("transposed", x.shape[-1]))
            return super()._transposed(x)

    class Halves(Dropout):
        def _uniform(self, x):
            seen.append("uniform")
            return torch.full_like(x, 0.75)

    assert Conv(1, 2, 5, 2, "same")(torch.randn(1, 1, 28, 28)).shape[-1] == 14  # TF pads (1, 2): 1 each side
    assert ConvTranspose2d(2, 1, 5, 2, "same").crop_after == 1
    assert Transposed(2, 1, 5, 2, "same")(torch.randn(1, 2, 7, 7)).shape[-1] == 14
    assert torch.equal(Halves(0.5)(torch.ones(3)), torch.full((3,), 2.0))  # 0.75 >= 0.5: all kept, scaled
    assert seen == [("conv", (1, 1)), ("transposed", 7), "uniform"]
