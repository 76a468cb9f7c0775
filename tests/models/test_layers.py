"""Keras-semantics layers: 'same' padding alignment, transposed convs as adjoints, BN constants."""

import pytest
import torch

from ganforge.models.layers import Conv2d, ConvTranspose2d, keras_batchnorm


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
