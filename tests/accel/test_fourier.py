"""The Fourier route for stride-1 transposed convolutions: the same function and gradients as
``F.conv_transpose2d``, taken exactly where it pays, and refused for a double backward."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganforge import accel
from ganforge.accel import fourier
from ganforge.models.layers import ConvTranspose2d

CPU = torch.device("cpu")


def fourier_layer(*args, **kwargs) -> ConvTranspose2d:
    layer = ConvTranspose2d(*args, **kwargs)
    accel.apply(accel.plan("fourier", CPU), layer)
    return layer


@pytest.mark.parametrize("p", [5, 8, 9, 12])
def test_kept_bins_hold_exactly_the_real_degrees_of_freedom(p):
    # A real p x p image has p*p numbers; each kept bin is two, except those whose own conjugate is itself
    # (real): (0, 0) and, for even p, the Nyquist ones.
    bins = fourier._kept_bins(p, p)
    real_only = {(kh, kw) for kh in (0, p // 2) for kw in (0, p // 2) if (2 * kh) % p == 0 and (2 * kw) % p == 0}
    assert 2 * len(bins) - len(real_only) == p * p
    assert len(set((kh, kw) for kh, kw, _ in bins)) == len(bins)


@pytest.mark.parametrize("h,w,kernel,padding", [(7, 7, 5, 2), (5, 6, 3, 1), (4, 4, 5, 0), (6, 6, 4, 1), (3, 5, 5, 2)])
def test_matches_conv_transpose2d_and_its_gradients(h, w, kernel, padding):
    torch.manual_seed(0)
    x = torch.randn(3, 4, h, w, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(4, 5, kernel, kernel, dtype=torch.float64, requires_grad=True)
    want = F.conv_transpose2d(x, weight, None, 1, padding)
    got = fourier.fourier_conv_transpose2d(x, weight, padding)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    grad = torch.randn_like(want)
    torch.testing.assert_close(torch.autograd.grad(got, (x, weight), grad),
                               torch.autograd.grad(want, (x, weight), grad), rtol=1e-10, atol=1e-10)


def test_gradcheck_and_no_silent_double_backward():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(3, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: fourier.fourier_conv_transpose2d(a, b, 1), (x, weight))
    (gx,) = torch.autograd.grad(fourier.fourier_conv_transpose2d(x, weight, 1).square().sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="twice|once_differentiable|double"):
        gx.sum().backward()


def test_only_input_or_only_weight_gradient():
    x = torch.randn(2, 3, 5, 5)
    weight = torch.randn(3, 4, 5, 5, requires_grad=True)
    (gw,) = torch.autograd.grad(fourier.fourier_conv_transpose2d(x, weight, 2).sum(), weight)
    torch.testing.assert_close(gw, torch.autograd.grad(F.conv_transpose2d(x, weight, None, 1, 2).sum(), weight)[0],
                               rtol=1e-4, atol=1e-4)
    x.requires_grad_()
    (gx,) = torch.autograd.grad(fourier.fourier_conv_transpose2d(x, weight.detach(), 2).sum(), x)
    assert gx.shape == x.shape


def test_pays_for_dcgan28s_first_layer_only():
    assert fourier.fourier_pays(256, 7, 7, 256, 128, 5, 2)       # dcgan-28: 841 multiply-adds against 164
    assert fourier.fourier_pays(8, 7, 7, 256, 128, 5, 2)
    assert not fourier.fourier_pays(1, 7, 7, 256, 128, 5, 2)     # one image: the kernel's transform dominates
    assert not fourier.fourier_pays(256, 14, 14, 64, 1, 5, 2)    # few channels: the images' transforms dominate
    assert not fourier.fourier_pays(256, 7, 7, 256, 128, 1, 0)   # 1x1: nothing to save
    assert not fourier.fourier_pays(256, 28, 28, 64, 64, 3, 1)   # large image, small kernel


def _count_calls(monkeypatch):
    calls = []
    real = fourier.fourier_conv_transpose2d

    def counting(*args):
        calls.append(args[0].dtype)
        return real(*args)

    monkeypatch.setattr(fourier, "fourier_conv_transpose2d", counting)
    return calls


def test_only_eligible_layers_get_the_route():
    assert fourier.eligible(ConvTranspose2d(64, 32, 5, 1, "same"))
    assert fourier.eligible(nn.ConvTranspose2d(64, 32, 5, 1, 2))               # a plain layer too
    assert not fourier.eligible(ConvTranspose2d(64, 32, 5, 2, "same"))         # stride 2
    assert not fourier.eligible(nn.ConvTranspose2d(64, 32, (5, 3), 1, 1))      # not square
    assert not fourier.eligible(nn.ConvTranspose2d(64, 32, 5, 1, 2, groups=2))
    assert not fourier.eligible(nn.Conv2d(64, 32, 5, 1, 2))


def test_layer_takes_the_route_in_fp32_and_matches_the_direct_layer(monkeypatch):
    calls = _count_calls(monkeypatch)
    torch.manual_seed(0)
    layer = fourier_layer(64, 32, 5, 1, "same", bias=True)
    torch.nn.init.normal_(layer.bias)
    x = torch.randn(16, 64, 7, 7, requires_grad=True)
    y = layer(x)
    assert calls == [torch.float32]
    accel.remove(layer)
    want = layer(x)
    assert len(calls) == 1
    torch.testing.assert_close(y, want, rtol=1e-4, atol=1e-4)
    grad = torch.randn_like(y)
    for got, ref in zip(torch.autograd.grad(y, (x, layer.weight, layer.bias), grad),
                        torch.autograd.grad(want, (x, layer.weight, layer.bias), grad)):
        torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-4)


def test_layer_stays_direct_where_it_does_not_pay_or_cannot(monkeypatch):
    calls = _count_calls(monkeypatch)
    fourier_layer(64, 1, 5, 2, "same")(torch.randn(2, 64, 7, 7))        # stride 2
    fourier_layer(8, 4, 3, 1, "same")(torch.randn(2, 8, 7, 7))          # too few channels to pay
    fourier_layer(256, 128, 5, 1, "same")(torch.randn(1, 256, 7, 7))    # one image
    layer = fourier_layer(64, 32, 5, 1, "same")
    torch.jit.trace(layer, torch.randn(16, 64, 7, 7), check_trace=False)  # exporters see the plain op
    layer.double()(torch.randn(16, 64, 7, 7, dtype=torch.float64))        # fp64: direct
    assert calls == []
    layer.float()(torch.randn(16, 64, 7, 7))                             # the same layer does take it
    assert calls == [torch.float32]


def test_a_plain_transposed_convolution_takes_the_route_and_keeps_its_output_size_argument(monkeypatch):
    calls = _count_calls(monkeypatch)
    torch.manual_seed(0)
    layer = nn.ConvTranspose2d(64, 32, 5, 1, 2)
    reference = nn.ConvTranspose2d(64, 32, 5, 1, 2)
    reference.load_state_dict(layer.state_dict())
    accel.apply(accel.plan("fourier", CPU), layer)
    x = torch.randn(16, 64, 7, 7)
    torch.testing.assert_close(layer(x), reference(x), rtol=1e-4, atol=1e-4)
    assert calls == [torch.float32]
    torch.testing.assert_close(layer(x, output_size=[7, 7]), reference(x), rtol=1e-4, atol=1e-4)
    assert calls == [torch.float32]  # with an output size: torch's own forward


def test_bf16_autocast_runs_the_route_in_bf16_with_bf16_sized_error(monkeypatch):
    calls = _count_calls(monkeypatch)
    torch.manual_seed(0)
    layer = fourier_layer(64, 32, 5, 1, "same", bias=False)
    x = torch.randn(16, 64, 7, 7).relu()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = layer(x)
    assert calls == [torch.bfloat16] and y.dtype == torch.bfloat16
    exact = F.conv_transpose2d(x.double(), layer.weight.double(), None, 1, 2)
    plain = ConvTranspose2d(64, 32, 5, 1, "same", bias=False)
    plain.load_state_dict(layer.state_dict())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        direct = plain(x)
    assert calls == [torch.bfloat16]
    err, direct_err = ((t.double() - exact).norm() / exact.norm() for t in (y, direct))
    assert err < 3 * direct_err and err < 1e-2
    y.float().sum().backward()
    assert layer.weight.grad.dtype == torch.float32 and layer.weight.grad.abs().sum() > 0
