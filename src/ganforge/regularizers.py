"""Discriminator regularisers: R1 (Mescheder et al. 2018), the WGAN-GP gradient penalty
(Gulrajani et al. 2017) and spectral normalisation (Miyato et al. 2018).

The penalties return the unweighted quantity; the trainer multiplies by the configured weight, so
each function has one known answer (e.g. the gradient norm of a linear D is the norm of its weight).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from .errors import GanforgeError

Tensor = torch.Tensor
Discriminator = Callable[[Tensor], Tensor]  # a module, or one behind DiffAugment

SPECTRAL_NORM_CHOICES = ("none", "d", "gd")


def _input_gradient(d: Discriminator, x: Tensor) -> Tensor:
    """dD(x)/dx per sample, kept in the graph so the penalty itself can be differentiated."""
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(d(x).sum(), x, create_graph=True)
    return grad.flatten(1)


def r1_penalty(d: Discriminator, real: Tensor) -> Tensor:
    """Mean over the batch of |grad_x D(x)|^2 at real images. The trainer adds gamma/2 times this."""
    return _input_gradient(d, real).pow(2).sum(1).mean()


def gradient_penalty(d: Discriminator, real: Tensor, fake: Tensor, *, generator: torch.Generator | None = None,
                     target: float = 1.0) -> Tensor:
    """WGAN-GP: mean of (|grad D(x_hat)| - target)^2 at random points x_hat between real and fake."""
    alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype,
                       generator=generator)
    x_hat = torch.lerp(fake.detach(), real.detach(), alpha)  # alpha * real + (1 - alpha) * fake
    return (_input_gradient(d, x_hat).norm(dim=1) - target).pow(2).mean()


def r1_due(d_step: int, every: int) -> bool:
    """Lazy R1: the penalty runs on every ``every``-th D step (the first included)."""
    return d_step % every == 0


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """Spectral normalisation on every conv, transposed conv and linear layer of ``module``, in place.

    torch's parametrization keeps the raw weight as ``parametrizations.weight.original`` and the
    power-iteration vectors as buffers, so checkpoints and the EMA carry them like any other state.
    """
    layers = [m for m in module.modules() if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d))]
    for m in layers:
        spectral_norm(m)
    return module


def check_spectral_norm(value: str) -> None:
    if value not in SPECTRAL_NORM_CHOICES:
        raise GanforgeError(f"spectral_norm must be one of {', '.join(SPECTRAL_NORM_CHOICES)}; got {value!r}")
