"""The image-end convolutions' matmul + col2im route on the CPU: the same maths as torch's op, taken by
the layers ``apply`` picks, and not by exporters."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganforge import accel
from ganforge.accel import col2im
from ganforge.models.layers import Conv2d, ConvTranspose2d
from ganforge.models.resnet import ResNetDiscriminator, ResNetGenerator

CPU = torch.device("cpu")


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
    monkeypatch.setattr(col2im.F, "conv_transpose2d", lambda *a: calls.append(a))  # the route must not call it
    y = col2im.conv_transpose2d(x, w, b, (s, s), (p, p), (op, op))
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
    monkeypatch.setattr(col2im.F, "conv_transpose2d", lambda *a: calls.append(a) or real(*a))
    col2im.conv_transpose2d(torch.randn(2, 4, 5, 5), torch.randn(4, 8, 4, 4), None, (2, 2), (1, 1), (0, 0))
    assert len(calls) == 1  # 8 output channels: oneDNN's own path is the fast one
    torch.jit.trace(lambda x: col2im.conv_transpose2d(x, torch.ones(4, 1, 4, 4), None, (2, 2), (1, 1), (0, 0)),
                    torch.randn(2, 4, 5, 5), check_trace=False)
    assert len(calls) == 2  # exporters see the plain op


def test_images_larger_than_28_px_keep_torchs_op(monkeypatch):
    """The route loses for 32 and 64 px images (bench/throughput.py --accel): both layer kinds stay with torch."""
    calls = []
    real = F.conv_transpose2d
    monkeypatch.setattr(col2im.F, "conv_transpose2d", lambda *a: calls.append(a) or real(*a))
    for h, routed in ((14, True), (16, False), (32, False)):  # outputs of 28, 32 and 64 px
        calls.clear()
        col2im.conv_transpose2d(torch.randn(2, 8, h, h), torch.randn(8, 3, 4, 4), None, (2, 2), (1, 1), (0, 0))
        x = torch.randn(2, 3, 2 * h, 2 * h, requires_grad=True)
        y = col2im.conv2d(x, torch.randn(8, 3, 4, 4), None, (2, 2), (1, 1))
        assert (calls == []) is routed and y.grad_fn.name().endswith("_ImageInputConv2dBackward") is routed, h


@pytest.mark.parametrize("cin,k,s,p", [(1, 5, 2, 1), (3, 4, 2, 1), (2, 3, 1, 1)])
def test_image_input_convolution_gradients_are_the_same_maths(cin, k, s, p):
    torch.manual_seed(0)
    x, w, b = torch.randn(4, cin, 16, 16), torch.randn(8, cin, k, k), torch.randn(8)
    ref_x, x = x.clone().requires_grad_(), x.clone().requires_grad_()
    ref_w, w = w.clone().requires_grad_(), w.clone().requires_grad_()
    ref_b, b = b.clone().requires_grad_(), b.clone().requires_grad_()
    ref, y = F.conv2d(ref_x, ref_w, ref_b, s, p), col2im.conv2d(x, w, b, (s, s), (p, p))
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
    for conv in (F.conv2d, col2im.conv2d):
        xi, wi = x.clone().requires_grad_(), w.clone().requires_grad_()
        (gx,) = torch.autograd.grad(conv(xi, wi, None, (2, 2), (1, 1)).tanh().sum(), xi, create_graph=True)
        (gw,) = torch.autograd.grad(gx.pow(2).sum(), wi)
        grads.append((gx, gw))
    for got, want in zip(grads[1], grads[0]):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


# ---- which layers take it -----------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [lambda: Conv2d(1, 8, 5, 2, "same"), lambda: Conv2d(3, 8, 4, 2, 1),
                                  lambda: nn.Conv2d(2, 8, 3, 1, 1)])
def test_image_input_layers_take_the_route_with_the_same_numbers(make):
    torch.manual_seed(0)
    layer, reference = make(), make()
    reference.load_state_dict(layer.state_dict())
    accel.apply(accel.plan("col2im", CPU), layer)
    assert accel.tricks_of(layer) == {"": ("col2im",)}
    x = torch.randn(4, layer.in_channels, 16, 16)
    xs = x.clone().requires_grad_(), x.clone().requires_grad_()
    y, ref = layer(xs[0]), reference(xs[1])
    assert y.grad_fn.name().endswith("_ImageInputConv2dBackward")
    g = torch.randn_like(ref)
    y.backward(g)
    ref.backward(g)
    for got, want in ((y, ref), (xs[0].grad, xs[1].grad), (layer.weight.grad, reference.weight.grad)):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-4)
    with torch.no_grad():  # no input gradient wanted: torch's op, the same bits
        assert torch.equal(layer(x), reference(x))


@pytest.mark.parametrize("make", [lambda: ConvTranspose2d(16, 1, 5, 2, "same"),
                                  lambda: nn.ConvTranspose2d(16, 3, 4, 2, 1)])
def test_narrow_transposed_layers_take_the_route_with_the_same_numbers(monkeypatch, make):
    torch.manual_seed(0)
    layer, reference = make(), make()
    reference.load_state_dict(layer.state_dict())
    accel.apply(accel.plan("col2im", CPU), layer)
    x = torch.randn(4, 16, 7, 7)
    want = reference(x)
    monkeypatch.setattr(col2im.F, "conv_transpose2d", lambda *a: pytest.fail("took torch's op"))
    torch.testing.assert_close(layer(x), want, rtol=1e-5, atol=1e-5)


def test_only_narrow_image_end_layers_are_eligible():
    assert col2im.conv_eligible(nn.Conv2d(4, 8, 3)) and not col2im.conv_eligible(nn.Conv2d(5, 8, 3))
    assert not col2im.conv_eligible(nn.Conv2d(2, 8, 3, padding="same"))
    assert not col2im.conv_eligible(nn.Conv2d(2, 8, 3, dilation=2))
    assert not col2im.conv_eligible(nn.Conv2d(2, 8, 3, padding=1, padding_mode="reflect"))
    assert col2im.transposed_eligible(nn.ConvTranspose2d(8, 4, 3)) and not col2im.transposed_eligible(
        nn.ConvTranspose2d(8, 5, 3))
    assert not col2im.transposed_eligible(nn.ConvTranspose2d(8, 4, 3, dilation=2))


def test_a_generators_narrow_convolutions_stay_with_torch():
    # A ResNet at width 4: G's last convolutions take 4 channels, but G reads no images; D's do.
    g, d = ResNetGenerator(z_dim=8, size=28, width=4), ResNetDiscriminator(size=28, width=4)
    assert not col2im.reads_images(g) and col2im.reads_images(d)
    accel.apply(accel.plan("col2im", CPU), g, d)
    assert accel.tricks_of(g) == {}
    assert set(accel.tricks_of(d)) == {"blocks.0.conv1", "blocks.0.conv2", "blocks.0.skip", "blocks.1.conv1",
                                       "blocks.1.skip"}
