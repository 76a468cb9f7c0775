"""One backward through D for both losses of a simultaneous step: the same gradients as two passes,
the fallback where it would not be safe, and the batch-independence claim it rests on."""

import copy

import pytest
import torch
from torch import nn

from ganforge import TrainConfig, Trainer
from ganforge.accel import shared_backward as sb
from ganforge.losses import LOSSES
from ganforge.models.conditional import call
from ganforge.models.dcgan import TutorialDCGAN28Discriminator
from ganforge.presets import PRESETS, build_models, get_preset
from helpers import resolved


def _setup(dtype=torch.float32, batch=6, seed=0):
    torch.manual_seed(seed)
    G = nn.Sequential(nn.Linear(8, 28 * 28), nn.Tanh(), nn.Unflatten(1, (1, 28, 28))).to(dtype)
    D = TutorialDCGAN28Discriminator().to(dtype)
    z = torch.randn(batch, 8, dtype=dtype)
    real = torch.rand(batch, 1, 28, 28, dtype=dtype) * 2 - 1
    return G, D, z, real


def _forward(G, D, z, real, loss, shift=0.0):
    fake = G(z)
    r, f = D(real), D(fake) + shift  # shift moves the logits, to reach the unsafe cases
    return fake, f, loss.g(None, f), loss.d_real(r) + loss.d_fake(f)


def _grads(params):
    out = [p.grad.clone() for p in params]
    for p in params:
        p.grad = None
    return out


def _both_ways(loss_name, dtype=torch.float64, shift=0.0):
    """Gradients of two ordinary passes and of ``backward_both`` on the very same forward (dropout masks
    included), and whether the shared pass was taken."""
    G, D, z, real = _setup(dtype)
    gp, dp = list(G.parameters()), list(D.parameters())
    fake, f, lg, ld = _forward(G, D, z, real, LOSSES[loss_name], shift)
    lg.backward(inputs=gp, retain_graph=True)
    ld.backward(inputs=dp, retain_graph=True)
    plain = _grads(gp) + _grads(dp)
    taken = sb.backward_both(lg, ld, f, fake, gp, dp)
    if not taken:  # nothing written, and the graph is still whole for the ordinary passes
        assert all(p.grad is None for p in gp + dp)
        lg.backward(inputs=gp, retain_graph=True)
        ld.backward(inputs=dp)
    return plain, _grads(gp) + _grads(dp), taken


@pytest.mark.parametrize("loss_name", ["bce", "ns", "minimax", "lsgan", "wasserstein"])
def test_same_gradients_as_two_passes_float64(loss_name):
    plain, shared, taken = _both_ways(loss_name)
    assert taken
    for a, b in zip(plain, shared):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-14)


def test_same_gradients_as_two_passes_float32():
    plain, shared, taken = _both_ways("bce", torch.float32)
    assert taken
    for a, b in zip(plain, shared):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-7)


def test_g_gradient_really_differs_from_d_gradient():
    # The rescale is what makes G's gradient right: without it G would follow D's loss.
    G, D, z, real = _setup(torch.float64)
    gp, dp = list(G.parameters()), list(D.parameters())
    fake, f, lg, ld = _forward(G, D, z, real, LOSSES["bce"])
    g_of_d_loss = torch.autograd.grad(ld, gp, retain_graph=True)
    assert sb.backward_both(lg, ld, f, fake, gp, dp)
    assert not torch.allclose(gp[0].grad, g_of_d_loss[0])
    assert all(p.grad is not None for p in dp)


@pytest.mark.parametrize("loss_name, shift", [
    ("hinge", -1.5),  # D's hinge has zero gradient past its margin: no ratio exists
    ("bce", -60.0),  # sigmoid(-60): D's gradient ~1e-26 is below the safe floor
    ("lsgan", None),  # a logit of exactly 0: D's least-squares gradient is 0
])
def test_unsafe_steps_take_two_passes(loss_name, shift):
    if shift is None:
        G, D, z, real = _setup(torch.float64)
        gp, dp = list(G.parameters()), list(D.parameters())
        fake = G(z)
        f = D(fake) * torch.tensor([0.0] + [1.0] * 5, dtype=torch.float64)
        loss = LOSSES[loss_name]
        lg, ld = loss.g(None, f), loss.d_real(D(real)) + loss.d_fake(f)
        assert not sb.backward_both(lg, ld, f, fake, gp, dp)
        assert all(p.grad is None for p in gp + dp)
        return
    plain, shared, taken = _both_ways(loss_name, shift=shift)
    assert not taken
    for a, b in zip(plain, shared):
        assert torch.equal(a, b)


def test_nan_logits_take_two_passes():
    plain, shared, taken = _both_ways("bce", shift=float("nan"))
    assert not taken


def test_packed_logits_take_two_passes():
    G, D, z, real = _setup(torch.float64)
    gp, dp = list(G.parameters()), list(D.parameters())
    fake, f, lg, ld = _forward(G, D, z, real, LOSSES["bce"])
    packed = f.reshape(3, 2).sum(1)  # one logit per two images (PacGAN): no per-image ratio
    assert not sb.backward_both(LOSSES["bce"].g(None, packed), LOSSES["bce"].d_fake(packed), packed, fake, gp, dp)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_batch_independence_claim_holds_for_every_preset(name):
    """Where ``batch_independent`` says yes, changing image 0 leaves the other images' logits alone;
    where it says no, they do move (train mode, dropout off so the two passes compare)."""
    preset = get_preset(name)
    cfg = resolved(preset=name)
    torch.manual_seed(0)
    _, D = build_models(cfg)
    D.train()
    for m in D.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.0
    x = torch.rand(4, *preset.image_shape) * 2 - 1
    x2 = x.clone()
    x2[0] = -x2[0]
    D2 = copy.deepcopy(D)  # the same state for both passes (spectral norm's vectors move in train mode)
    y = torch.tensor([1, 2, 3, 4]) if cfg.conditional else None
    with torch.no_grad():
        others, others2 = call(D, x, y)[1:], call(D2, x2, y)[1:]
    if sb.batch_independent(D):
        torch.testing.assert_close(others2, others, rtol=1e-5, atol=1e-6)
    else:
        assert not torch.allclose(others2, others, rtol=1e-5, atol=1e-6)


def test_trainer_takes_the_shared_pass_and_trains_as_two_passes(tmp_path, monkeypatch):
    calls = []
    real_backward_both = sb.backward_both

    def spy(*a, **k):
        calls.append(real_backward_both(*a, **k))
        return calls[-1]

    monkeypatch.setattr("ganforge.training.build.backward_both", spy)
    cfg = dict(preset="dcgan-28", batch_size=16, z_dim=8, steps=3, dataset="mnist-sample", progress=False,
               log_every=3, seed=3)
    shared = Trainer(TrainConfig(**cfg, out=str(tmp_path / "a")), log=lambda *a: None)
    assert shared.gan.backward_pair is not None and shared.accel.shared_backward  # on by default on the CPU
    shared.train()
    assert calls == [True, True, True]
    # The same layer tricks without the shared backward: two ordinary passes each step, never asked.
    plain = Trainer(TrainConfig(**cfg, accel="fourier,col2im,fast_dropout", out=str(tmp_path / "b")),
                    log=lambda *a: None)
    assert plain.gan.backward_pair is None and not plain.accel.shared_backward
    plain.train()
    assert calls == [True, True, True]
    # Adam turns a gradient near zero into a step of +-lr by its sign, so rounding that flips one moves that weight
    # by up to 2 lr a step (seen with MKL's AVX2 kernels); everything else must agree to rounding.
    bound = 2 * cfg["steps"] * max(shared.cfg.lr_g, shared.cfg.lr_d) + 1e-5
    for m_shared, m_plain in ((shared.G, plain.G), (shared.D, plain.D)):
        for (name, a), (_, b) in zip(m_shared.state_dict().items(), m_plain.state_dict().items()):
            if not a.is_floating_point():
                assert torch.equal(a, b), name
                continue
            close = torch.isclose(a, b, rtol=1e-4, atol=1e-5)
            assert close.double().mean() >= 0.999 and (a - b).abs().max() <= bound, name


def test_trainer_keeps_two_passes_where_d_mixes_the_batch(tmp_path):
    cfg = TrainConfig(preset="dcgan-64-rgb", batch_size=4, z_dim=8, steps=1, dataset="mnist-sample",
                      progress=False, out=str(tmp_path / "r"))
    t = Trainer(cfg, log=lambda *a: None)
    assert t.accel.shared_backward and t.gan.backward_pair is None  # D has BatchNorm


def test_bf16_autocast_gradients_match_two_passes_to_bf16_rounding():
    G, D, z, real = _setup(torch.float32)
    gp, dp = list(G.parameters()), list(D.parameters())
    loss = LOSSES["bce"]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fake = G(z)
        r, f = D(real).float(), D(fake).float()
    lg, ld = loss.g(None, f), loss.d_real(r) + loss.d_fake(f)
    lg.backward(inputs=gp, retain_graph=True)
    ld.backward(inputs=dp, retain_graph=True)
    plain = _grads(gp) + _grads(dp)
    assert sb.backward_both(lg, ld, f, fake, gp, dp)
    for a, b in zip(plain, _grads(gp) + _grads(dp)):
        assert b.dtype == torch.float32
        assert (b - a).norm() <= 0.02 * a.norm()


def test_compiled_d_takes_the_shared_pass_too(tmp_path, monkeypatch):
    # aot_eager: the graph capture and compiled autograd of inductor, without generating C++.
    monkeypatch.setenv("GANFORGE_COMPILE_BACKEND", "aot_eager")
    torch._dynamo.reset()
    calls = []
    real_backward_both = sb.backward_both
    monkeypatch.setattr("ganforge.training.build.backward_both",
                        lambda *a: calls.append(real_backward_both(*a)) or calls[-1])
    cfg = dict(preset="dcgan-28", batch_size=8, z_dim=8, steps=2, dataset="mnist-sample", progress=False, log_every=2)
    comp = Trainer(TrainConfig(**cfg, compile="default", out=str(tmp_path / "c")), log=lambda *a: None)
    comp.train()
    assert calls == [True, True]
    eager = Trainer(TrainConfig(**cfg, accel="fourier,col2im,fast_dropout", out=str(tmp_path / "e")),
                    log=lambda *a: None)
    eager.train()
    assert calls == [True, True]
    for (name, a), (_, b) in zip(comp.G.state_dict().items(), eager.G.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)
