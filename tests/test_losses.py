"""Every GAN loss against values worked out by hand on tiny logits."""

import math

import pytest
import torch

from ganforge.losses import LOSSES

R = torch.tensor([2.0, -1.0])  # D's logits on real images
F = torch.tensor([0.5, -3.0])  # D's logits on fakes


def sp(x: float) -> float:  # softplus
    return math.log1p(math.exp(x))


def test_every_issue_loss_is_registered():
    assert {"bce", "ns", "minimax", "hinge", "wasserstein", "lsgan"} <= set(LOSSES)


@pytest.mark.parametrize("name", ["bce", "ns"])
def test_non_saturating_is_bce(name):
    loss = LOSSES[name]
    assert loss.d_real(R).item() == pytest.approx((sp(-2.0) + sp(1.0)) / 2)
    assert loss.d_fake(F).item() == pytest.approx((sp(0.5) + sp(-3.0)) / 2)
    assert loss.g_fake(F).item() == pytest.approx((sp(-0.5) + sp(3.0)) / 2)  # -log sigmoid(f)
    assert loss.probabilistic


def test_minimax_generator_minimises_log_one_minus_d():
    loss = LOSSES["minimax"]
    d = torch.sigmoid(F)
    assert loss.g_fake(F).item() == pytest.approx(torch.log(1 - d).mean().item(), rel=1e-6)
    assert loss.d_real(R).item() == pytest.approx(LOSSES["bce"].d_real(R).item())
    # Saturating: when D is sure a fake is fake, G's gradient all but vanishes (unlike ns).
    f = torch.tensor([-8.0], requires_grad=True)
    LOSSES["minimax"].g_fake(f).backward()
    g_mm = f.grad.abs().item()
    f.grad = None
    LOSSES["ns"].g_fake(f).backward()
    assert g_mm < 1e-3 < f.grad.abs().item()


def test_hinge_values():
    loss = LOSSES["hinge"]
    assert loss.d_real(R).item() == pytest.approx((0.0 + 2.0) / 2)  # relu(1 - 2), relu(1 + 1)
    assert loss.d_fake(F).item() == pytest.approx((1.5 + 0.0) / 2)  # relu(1 + 0.5), relu(1 - 3)
    assert loss.g_fake(F).item() == pytest.approx(1.25)  # -mean(f)


def test_wasserstein_values():
    loss = LOSSES["wasserstein"]
    assert loss.d_real(R).item() == pytest.approx(-0.5)
    assert loss.d_fake(F).item() == pytest.approx(-1.25)
    assert loss.g_fake(F).item() == pytest.approx(1.25)


def test_least_squares_values():
    loss = LOSSES["lsgan"]
    assert loss.d_real(R).item() == pytest.approx(0.5 * (1.0 + 4.0) / 2)
    assert loss.d_fake(F).item() == pytest.approx(0.5 * (0.25 + 9.0) / 2)
    assert loss.g_fake(F).item() == pytest.approx(0.5 * (0.25 + 16.0) / 2)
