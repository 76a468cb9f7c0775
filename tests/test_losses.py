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


def test_rpgan_pairs_each_real_logit_with_a_fake_one():
    # R3GAN's RpGAN: L_D = mean softplus(f_i - r_i), L_G = mean softplus(r_i - f_i), worked out by hand
    loss = LOSSES["rpgan"]
    assert loss.d(R, F).item() == pytest.approx((sp(0.5 - 2.0) + sp(-3.0 + 1.0)) / 2)
    assert loss.g(R, F).item() == pytest.approx((sp(2.0 - 0.5) + sp(-1.0 + 3.0)) / 2)
    assert not loss.separable and loss.g_needs_real and not loss.probabilistic
    # Relativistic: shifting every logit by the same amount changes nothing (unlike bce)
    assert loss.d(R + 7.0, F + 7.0).item() == pytest.approx(loss.d(R, F).item())
    assert LOSSES["bce"].d(R + 7.0, F + 7.0).item() != pytest.approx(LOSSES["bce"].d(R, F).item())


def test_rpgan_gradients_push_real_up_and_fake_down():
    r, f = R.clone().requires_grad_(True), F.clone().requires_grad_(True)
    LOSSES["rpgan"].d(r, f).backward()
    sig = torch.sigmoid(F - R)  # d/df softplus(f - r) = sigmoid(f - r)
    torch.testing.assert_close(f.grad, sig / 2)
    torch.testing.assert_close(r.grad, -sig / 2)


def test_rpgan_refuses_unpaired_logits_and_a_missing_real_side():
    with pytest.raises(ValueError, match="pairs each real logit with a fake one"):
        LOSSES["rpgan"].d(R, torch.zeros(3))
    with pytest.raises(ValueError, match="needs D's logits on a real batch"):
        LOSSES["rpgan"].g(None, F)


def test_separable_losses_split_into_halves_that_sum_to_d():
    for name, loss in LOSSES.items():
        if loss.separable:
            assert loss.d(R, F).item() == pytest.approx((loss.d_real(R) + loss.d_fake(F)).item()), name
            assert loss.g(None, F).item() == pytest.approx(loss.g(R, F).item()), name  # G reads fakes only
