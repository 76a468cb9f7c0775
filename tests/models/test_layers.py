"""Keras-semantics layers: 'same' padding alignment, transposed convs as adjoints, BN constants."""

import pytest
import torch
import torch.nn.functional as F

from ganforge.models import layers
from ganforge.models.layers import Conv2d, ConvTranspose2d, Dropout, keras_batchnorm


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
    torch.manual_seed(0)
    drop = Dropout(0.3)
    x = torch.full((400, 1000), 2.0, requires_grad=True)
    y = drop(x)
    kept = y != 0
    assert abs(kept.float().mean().item() - 0.7) < 0.005  # 400,000 draws: 4 standard deviations ~ 0.003
    assert torch.allclose(y[kept], torch.tensor(2.0 / 0.7))
    (g,) = torch.autograd.grad(y.sum(), x)
    assert torch.equal(g != 0, kept) and torch.allclose(g[kept], torch.tensor(1 / 0.7))
    drop.eval()
    assert drop(x) is x
    assert torch.equal(Dropout(0.0)(x), x) and not Dropout(1.0)(x).any()
    # channels_last input: the mask follows the layout, the output stays NHWC
    xc = torch.randn(4, 8, 5, 5).contiguous(memory_format=torch.channels_last)
    assert Dropout(0.5)(xc).is_contiguous(memory_format=torch.channels_last)


# ---- the image-end convolutions' matmul + col2im route on the CPU ---------------------------------------

@pytest.mark.parametrize("cin,cout,k,s,p,op,h", [(64, 1, 5, 2, 1, 0, 14), (32, 1, 4, 2, 1, 0, 14),
                                                 (16, 3, 4, 2, 1, 1, 7), (8, 2, 3, 1, 1, 0, 9)])
@pytest.mark.parametrize("nhwc", [False, True])
def test_narrow_transposed_convolution_is_the_same_maths(monkeypatch, cin, cout, k, s, p, op, h, nhwc):
    torch.manual_seed(0)
    x, w, b = torch.randn(5, cin, h, h), torch.randn(cin, cout, k, k), torch.randn(cout)
    if nhwc:
        x = x.contiguous(memory_format=torch.channels_last)
    ref_x, x = x.clone().requires_grad_(), x.clone().requires_grad_()
    ref_w, w = w.clone().requires_grad_(), w.clone().requires_grad_()
    ref = F.conv_transpose2d(ref_x, ref_w, b, s, p, op)
    calls = []
    monkeypatch.setattr(layers.F, "conv_transpose2d", lambda *a: calls.append(a))  # the route must not call it
    y = layers.conv_transpose2d(x, w, b, (s, s), (p, p), (op, op))
    assert not calls and y.shape == ref.shape
    assert y.is_contiguous(memory_format=torch.channels_last if nhwc else torch.contiguous_format)
    g = torch.randn_like(ref)
    ref.backward(g)
    y.backward(g)
    for got, want in ((y, ref), (x.grad, ref_x.grad), (w.grad, ref_w.grad)):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-4)


def test_wide_or_exported_transposed_convolutions_keep_torchs_op(monkeypatch):
    calls = []
    real = F.conv_transpose2d
    monkeypatch.setattr(layers.F, "conv_transpose2d", lambda *a: calls.append(a) or real(*a))
    layers.conv_transpose2d(torch.randn(2, 4, 5, 5), torch.randn(4, 8, 4, 4), None, (2, 2), (1, 1), (0, 0))
    assert len(calls) == 1  # 8 output channels: oneDNN's own path is the fast one
    torch.jit.trace(lambda x: layers.conv_transpose2d(x, torch.ones(4, 1, 4, 4), None, (2, 2), (1, 1), (0, 0)),
                    torch.randn(2, 4, 5, 5), check_trace=False)
    assert len(calls) == 2  # exporters see the plain op


@pytest.mark.parametrize("cin,k,s,p", [(1, 5, 2, 1), (3, 4, 2, 1), (2, 3, 1, 1)])
def test_image_input_convolution_gradients_are_the_same_maths(cin, k, s, p):
    torch.manual_seed(0)
    x, w, b = torch.randn(4, cin, 16, 16), torch.randn(8, cin, k, k), torch.randn(8)
    ref_x, x = x.clone().requires_grad_(), x.clone().requires_grad_()
    ref_w, w = w.clone().requires_grad_(), w.clone().requires_grad_()
    ref_b, b = b.clone().requires_grad_(), b.clone().requires_grad_()
    ref, y = F.conv2d(ref_x, ref_w, ref_b, s, p), layers.conv2d(x, w, b, (s, s), (p, p))
    assert y.grad_fn.name().endswith("_ImageInputConv2dBackward")  # the route is taken
    g = torch.randn_like(ref)
    ref.backward(g)
    y.backward(g)
    for got, want in ((y, ref), (x.grad, ref_x.grad), (w.grad, ref_w.grad), (b.grad, ref_b.grad)):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-4)


def test_image_input_convolution_supports_the_penalties_double_backward():
    # R1: the squared input gradient, differentiated w.r.t. the weights
    torch.manual_seed(0)
    x, w = torch.randn(4, 1, 12, 12), torch.randn(6, 1, 4, 4)
    grads = []
    for conv in (F.conv2d, layers.conv2d):
        xi, wi = x.clone().requires_grad_(), w.clone().requires_grad_()
        (gx,) = torch.autograd.grad(conv(xi, wi, None, (2, 2), (1, 1)).tanh().sum(), xi, create_graph=True)
        (gw,) = torch.autograd.grad(gx.pow(2).sum(), wi)
        grads.append((gx, gw))
    for got, want in zip(grads[1], grads[0]):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_parallel_uniform_draws_are_reproducible_and_uniform(monkeypatch):
    # Two threads, two generators seeded from the global RNG: the same global seed gives the same numbers.
    monkeypatch.setattr(layers, "PARALLEL_RNG_MIN", 1000)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    x = torch.empty(64, 8, 16, 16).contiguous(memory_format=torch.channels_last)
    torch.manual_seed(3)
    a = layers.uniform_like(x)
    torch.manual_seed(3)
    b = layers.uniform_like(x)
    assert torch.equal(a, b) and a.shape == x.shape and a.is_contiguous(memory_format=torch.channels_last)
    assert not torch.equal(layers.uniform_like(x), a)  # the global RNG moved on
    flat = a.as_strided((a.numel(),), (1,))
    halves = flat[: a.numel() // 2], flat[a.numel() // 2:]
    assert not torch.equal(halves[0][:100], halves[1][:100])  # two streams, not one drawn twice
    for h in halves:  # each half uniform on [0, 1): 65,536 draws, mean 0.5 +- 0.0011 (1 sd)
        assert 0 <= h.min() and h.max() < 1 and abs(h.mean().item() - 0.5) < 0.006
