"""The divergence guard's two private torch calls: if a torch release changes either, these fail loudly."""

from __future__ import annotations

import pytest
import torch

from ganforge.guard import flag_nonfinite, step_unless_flagged


def flags(loss: float, *grads: torch.Tensor) -> float:
    found, one = torch.zeros(()), torch.ones(())
    flag_nonfinite(torch.tensor(loss), list(grads), found, one)
    return found.item()


def test_the_flag_is_one_exactly_when_the_loss_or_a_gradient_is_not_finite():
    ok = [torch.ones(3), torch.full((2, 2), -4.0)]
    assert flags(1.0, *ok) == 0.0
    assert flags(float("nan"), *ok) == 1.0
    assert flags(1.0, ok[0], torch.tensor([1.0, float("inf")])) == 1.0
    assert flags(1.0, torch.tensor([float("-inf")]), *ok) == 1.0
    assert flags(2.0) == 0.0  # no gradients at all


def test_checking_leaves_the_gradients_as_they_were():
    g = torch.tensor([1.5, -2.0, 3.25])
    before = g.clone()
    flags(1.0, g)
    assert torch.equal(g, before)


@pytest.mark.parametrize("fused", [True, None])
@pytest.mark.parametrize("kind", ["adam", "sgd"])
def test_a_flagged_step_leaves_weights_and_state_untouched_and_a_clean_one_updates(kind, fused):
    w = torch.nn.Parameter(torch.ones(4))
    make = {"adam": lambda: torch.optim.Adam([w], lr=0.1, fused=fused),
            "sgd": lambda: torch.optim.SGD([w], lr=0.1, momentum=0.9, fused=fused)}[kind]
    opt = make()
    assert getattr(opt, "_step_supports_amp_scaling", False) == bool(fused)  # which path step_unless_flagged takes
    w.grad = torch.full((4,), 2.0)
    step_unless_flagged(opt, torch.ones(()))
    assert torch.equal(w.detach(), torch.ones(4))
    assert all(int(s.get("step", 0)) == 0 for s in opt.state.values())  # Adam's step count did not move
    step_unless_flagged(opt, torch.zeros(()))
    assert not torch.equal(w.detach(), torch.ones(4))
