"""Discriminator penalties, one registered entry each: R1 (Mescheder et al. 2018) on real images, R2 on
fakes (the zero-centred pair of R3GAN, Huang et al. 2024), the WGAN-GP gradient penalty (Gulrajani et al.
2017); and spectral normalisation (Miyato et al. 2018), which is a change of D rather than a loss term.

Each penalty function returns the unweighted quantity, so it has one known answer (the gradient norm of a
linear D is the norm of its weight); its registered entry weighs it with the config's field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

Tensor = torch.Tensor
Discriminator = Callable[[Tensor], Tensor]  # a module, or one behind DiffAugment

SPECTRAL_NORM_CHOICES = ("none", "d", "gd")


def _input_gradient(d: Discriminator, x: Tensor) -> Tensor:
    """dD(x)/dx per sample, kept in the graph so the penalty itself can be differentiated."""
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(d(x).sum(), x, create_graph=True)
    return grad.flatten(1)


def r1_penalty(d: Discriminator, real: Tensor) -> Tensor:
    """Mean over the batch of |grad_x D(x)|^2 at real images. Its entry adds gamma/2 times this."""
    return _input_gradient(d, real).pow(2).sum(1).mean()


def r2_penalty(d: Discriminator, fake: Tensor) -> Tensor:
    """Mean over the batch of |grad_x D(x)|^2 at generated images (R1's formula on the fakes)."""
    return _input_gradient(d, fake).pow(2).sum(1).mean()


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


@dataclass(frozen=True)
class PenaltyInputs:
    """What a penalty term sees in one D step. ``d`` is D as the losses see it, at the real labels."""

    config: Any  # the run's RunConfig
    d: Discriminator
    real: Tensor
    fake: Tensor
    d_step: int  # counts D steps over the whole run (lazy R1 runs on some of them)
    noise: torch.Generator  # the run's noise stream (WGAN-GP's interpolation points)


@dataclass(frozen=True)
class Penalty:
    name: str
    weight_field: str  # the config field that turns it on (a weight above 0)
    description: str
    term: Callable[[PenaltyInputs], Tensor | None]  # the weighted term; None when it skips this D step


PENALTIES: dict[str, Penalty] = {}


def register_penalty(penalty: Penalty) -> Penalty:
    if penalty.name in PENALTIES:
        raise ValueError(f"penalty {penalty.name!r} is registered twice")
    PENALTIES[penalty.name] = penalty
    return penalty


def _r1(x: PenaltyInputs) -> Tensor | None:
    every = x.config.r1_every
    if not r1_due(x.d_step, every):
        return None
    # Lazy R1 (StyleGAN2): every k-th step, k times as strong, the same strength on average.
    return 0.5 * x.config.r1_gamma * every * r1_penalty(x.d, x.real)


register_penalty(Penalty("r1", "r1_gamma", "R1: gamma/2 |grad D|^2 at real images (lazy with r1_every)", _r1))
register_penalty(Penalty("r2", "r2_gamma", "R2: gamma/2 |grad D|^2 at generated images, every D step",
                         lambda x: 0.5 * x.config.r2_gamma * r2_penalty(x.d, x.fake)))
register_penalty(Penalty("gp", "gp_weight", "WGAN-GP: weight (|grad D| - 1)^2 between real and fake",
                         lambda x: x.config.gp_weight * gradient_penalty(x.d, x.real, x.fake, generator=x.noise)))


def active_penalties(config: Any) -> list[Penalty]:
    return [p for p in PENALTIES.values() if getattr(config, p.weight_field)]


def d_penalty(penalties: list[Penalty], inputs: PenaltyInputs) -> Tensor | float:
    """The penalties' share of D's loss in one D step, in registry order (0.0 when none is on)."""
    total: Tensor | float = 0.0
    for penalty in penalties:
        term = penalty.term(inputs)
        if term is not None:
            total = total + term
    return total


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """Spectral normalisation on every conv, transposed conv and linear layer of ``module``, in place.

    torch's parametrization keeps the raw weight as ``parametrizations.weight.original`` and the
    power-iteration vectors as buffers, so checkpoints and the EMA carry them like any other state.
    """
    layers = [m for m in module.modules() if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d))]
    for m in layers:
        spectral_norm(m)
    return module
