"""Regularisers against known answers: linear and quadratic discriminators, a known matrix."""

import pytest
import torch
from torch import nn

from ganforge.penalties import apply_spectral_norm, gradient_penalty, r1_due, r1_penalty


def linear_d(w: torch.Tensor) -> nn.Module:
    d = nn.Linear(w.numel(), 1)
    with torch.no_grad():
        d.weight.copy_(w.view(1, -1))
        d.bias.fill_(0.7)
    return nn.Sequential(nn.Flatten(), d)


def test_gradient_penalty_of_a_linear_d_is_from_the_weight_norm():
    w = torch.tensor([3.0, 4.0, 0.0, 0.0])  # |w| = 5 everywhere, whatever the interpolates
    d = linear_d(w)
    real, fake = torch.randn(6, 1, 2, 2), torch.randn(6, 1, 2, 2)
    gp = gradient_penalty(d, real, fake, generator=torch.Generator().manual_seed(0))
    assert gp.item() == pytest.approx((5.0 - 1.0) ** 2)
    assert gradient_penalty(d, real, fake, target=5.0).item() == pytest.approx(0.0, abs=1e-10)


def test_gradient_penalty_is_differentiable_in_d():
    d = linear_d(torch.tensor([3.0, 4.0, 0.0, 0.0]))
    gp = gradient_penalty(d, torch.randn(2, 4), torch.randn(2, 4))
    gp.backward()
    lin = d[1]
    # d/dw (|w| - 1)^2 = 2 (|w| - 1) w / |w| = 2 * 4 * w / 5
    assert torch.allclose(lin.weight.grad.view(-1), torch.tensor([4.8, 6.4, 0.0, 0.0]), atol=1e-5)


def test_gradient_penalty_draws_from_the_given_generator():
    d = nn.Sequential(nn.Flatten(), nn.Linear(4, 1), nn.Tanh())
    real, fake = torch.randn(3, 4), torch.randn(3, 4)
    a = gradient_penalty(d, real, fake, generator=torch.Generator().manual_seed(5))
    b = gradient_penalty(d, real, fake, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


def test_r1_of_a_quadratic_d():
    # D(x) = sum(x^2): grad = 2x, |grad|^2 = 4 |x|^2
    real = torch.tensor([[1.0, 2.0], [0.0, 3.0]])
    assert r1_penalty(lambda x: x.pow(2).sum(1), real).item() == pytest.approx(4 * (5.0 + 9.0) / 2)
    # and of a linear D it is |w|^2, wherever the real images are
    assert r1_penalty(linear_d(torch.tensor([3.0, 4.0])), torch.randn(5, 2)).item() == pytest.approx(25.0)


def test_lazy_r1_schedule():
    assert [s for s in range(10) if r1_due(s, 4)] == [0, 4, 8]
    assert all(r1_due(s, 1) for s in range(5))


def test_spectral_norm_of_a_known_matrix():
    lin = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[3.0, 0.0], [0.0, 1.0]]))  # largest singular value 3
    apply_spectral_norm(nn.Sequential(lin))
    for _ in range(20):  # power iteration runs once per training-mode forward
        lin(torch.zeros(1, 2))
    lin.eval()
    assert torch.allclose(lin.weight, torch.tensor([[1.0, 0.0], [0.0, 1 / 3]]), atol=1e-4)
    assert torch.linalg.matrix_norm(lin.weight, ord=2).item() == pytest.approx(1.0, abs=1e-4)


def test_spectral_norm_reaches_convs_and_transposed_convs():
    m = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ConvTranspose2d(2, 1, 3), nn.BatchNorm2d(1), nn.Linear(3, 1))
    apply_spectral_norm(m)
    wrapped = [name for name, _ in m.named_modules() if name.endswith("parametrizations")]
    assert wrapped == ["0.parametrizations", "1.parametrizations", "3.parametrizations"]


def test_r2_of_a_linear_d_is_the_squared_weight_norm_at_any_fake():
    from ganforge.penalties import r2_penalty

    d = linear_d(torch.tensor([3.0, 4.0, 0.0, 0.0]))
    assert r2_penalty(d, torch.randn(5, 1, 2, 2)).item() == pytest.approx(25.0)


def test_r2_of_a_quadratic_d_reads_the_fakes_not_the_reals():
    from ganforge.penalties import r2_penalty

    class Quadratic(nn.Module):  # D(x) = sum x^2: grad 2x, |grad|^2 = 4 |x|^2
        def forward(self, x):
            return x.flatten(1).pow(2).sum(1)

    fake = torch.tensor([[1.0, 2.0], [0.0, 3.0]])
    assert r2_penalty(Quadratic(), fake).item() == pytest.approx(4 * (5.0 + 9.0) / 2)
    assert r1_penalty(Quadratic(), fake).item() == r2_penalty(Quadratic(), fake).item()  # one formula, two places


def test_penalty_entries_weigh_their_terms_as_the_papers_do():
    from types import SimpleNamespace

    from ganforge.penalties import PENALTIES, PenaltyInputs, active_penalties, d_penalty

    assert list(PENALTIES) == ["r1", "r2", "gp"]
    d = linear_d(torch.tensor([3.0, 4.0, 0.0, 0.0]))  # every gradient norm is 5
    cfg = SimpleNamespace(r1_gamma=2.0, r1_every=4, r2_gamma=0.5, gp_weight=10.0)
    real, fake = torch.randn(3, 1, 2, 2), torch.randn(3, 1, 2, 2)
    inputs = PenaltyInputs(cfg, d, real, fake, 0, torch.Generator().manual_seed(0))
    # R1 gamma/2 * every * 25 on a lazy step, R2 gamma/2 * 25, GP weight * (5 - 1)^2
    assert d_penalty(active_penalties(cfg), inputs).item() == pytest.approx(1.0 * 4 * 25 + 0.25 * 25 + 10 * 16)
    skip = PenaltyInputs(cfg, d, real, fake, 1, torch.Generator().manual_seed(0))  # R1 waits for step 4
    assert d_penalty(active_penalties(cfg), skip).item() == pytest.approx(0.25 * 25 + 10 * 16)
    none = SimpleNamespace(r1_gamma=0.0, r1_every=1, r2_gamma=0.0, gp_weight=0.0)
    assert active_penalties(none) == [] and d_penalty([], inputs) == 0.0
