"""The divergence guard: skip an optimiser step whose loss or gradients hold a NaN or Inf, without a sync.

Checking every gradient tensor for finiteness one by one costs a kernel and a host sync each. torch's AMP
machinery has one fused kernel that flags any non-finite value in a list of tensors, and fused optimisers
can skip their step on the device when handed that flag. Both are private torch API (what
``torch.amp.GradScaler`` uses), so they live here alone; ``tests/test_guard.py`` fails loudly if torch
changes either.
"""

from __future__ import annotations

import torch

Tensor = torch.Tensor


def flag_nonfinite(loss: Tensor, grads: list[Tensor], found: Tensor, one: Tensor) -> None:
    """Set ``found`` (a 0-d float tensor) to 1 when ``loss`` or any of ``grads`` holds a NaN or Inf, else 0.
    ``one`` is a 0-d tensor holding 1.0 on the same device (the gradients are multiplied by it: unchanged)."""
    torch.logical_not(torch.isfinite(loss.detach().float()), out=found)
    if grads:
        torch._amp_foreach_non_finite_check_and_unscale_(grads, found, one)


def step_unless_flagged(opt: torch.optim.Optimizer, found: Tensor) -> None:
    """``opt.step()`` unless ``found`` is 1. A fused optimiser skips on the device, with no sync; any other
    needs the flag on the host."""
    if getattr(opt, "_step_supports_amp_scaling", False):
        opt.found_inf, opt.grad_scale = found, None  # read by the fused kernel, as GradScaler sets them
        opt.step()
    elif not found.item():
        opt.step()
