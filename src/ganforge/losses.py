"""GAN losses, one registered entry each. Discriminators output logits.

Every loss sees the real and the fake logits together: ``d(real, fake)`` is D's loss and ``g(real, fake)``
G's, so a relativistic loss, which compares each real sample with a fake one, fits the same interface.
A loss that is a sum of a real half and a fake half (all but the relativistic ones) also gives the
halves, ``d_real`` and ``d_fake``: the Keras SGD tutorial updates D on the real and fake batches
separately (``d_update = "separate"``), which only such a loss allows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


class GANLoss:
    """The interface. ``real`` may be None in ``g`` when ``g_needs_real`` is False."""

    name: str
    description: str
    probabilistic: bool  # D's output reads as a probability through a sigmoid (for D(x) in logs)
    separable: bool  # D's loss is d_real(real) + d_fake(fake)
    g_needs_real: bool  # G's loss reads D's logits on a real batch too

    def d(self, real: Tensor, fake: Tensor) -> Tensor:
        raise NotImplementedError

    def g(self, real: Tensor | None, fake: Tensor) -> Tensor:
        raise NotImplementedError


@dataclass(frozen=True)
class SeparableLoss(GANLoss):
    """D's loss a mean over the real logits plus one over the fakes; G's a mean over the fakes."""

    name: str
    description: str
    d_real: Callable[[Tensor], Tensor]
    d_fake: Callable[[Tensor], Tensor]
    g_fake: Callable[[Tensor], Tensor]
    probabilistic: bool
    separable = True
    g_needs_real = False

    def d(self, real: Tensor, fake: Tensor) -> Tensor:
        return self.d_real(real) + self.d_fake(fake)

    def g(self, real: Tensor | None, fake: Tensor) -> Tensor:
        return self.g_fake(fake)


@dataclass(frozen=True)
class RelativisticPairLoss(GANLoss):
    """RpGAN (Jolicoeur-Martineau 2019; the loss of R3GAN, Huang et al. 2024): each real logit is paired
    with a fake one, ``L_D = mean softplus(D(fake) - D(real))`` and ``L_G = mean softplus(D(real) - D(fake))``.
    The pairing needs as many real as fake logits."""

    name: str
    description: str
    probabilistic = False
    separable = False
    g_needs_real = True

    def d(self, real: Tensor, fake: Tensor) -> Tensor:
        return F.softplus(_paired(fake, real) - real).mean()

    def g(self, real: Tensor | None, fake: Tensor) -> Tensor:
        if real is None:
            raise ValueError(f"loss {self.name!r} needs D's logits on a real batch for G's step")
        return F.softplus(real - _paired(fake, real)).mean()


def _paired(fake: Tensor, real: Tensor) -> Tensor:
    if fake.shape != real.shape:
        raise ValueError(f"a relativistic pair loss pairs each real logit with a fake one; got {tuple(real.shape)} "
                         f"real and {tuple(fake.shape)} fake logits")
    return fake


LOSSES: dict[str, GANLoss] = {}


def register_loss(loss: GANLoss) -> GANLoss:
    if loss.name in LOSSES:
        raise ValueError(f"loss {loss.name!r} is registered twice")
    LOSSES[loss.name] = loss
    return loss


# Binary cross-entropy with labels 1 for real, 0 for fake; G is trained with label 1 on fakes,
# as the tutorials' combined models do (-log D(G(z)), the non-saturating form).
# softplus(-x) = -log(sigmoid(x)) and softplus(x) = -log(1 - sigmoid(x)), without overflow.
register_loss(SeparableLoss(
    "bce", "binary cross-entropy, G with 'real' labels (-log D(G(z))), as the Keras tutorials",
    d_real=lambda r: F.softplus(-r).mean(), d_fake=lambda f: F.softplus(f).mean(),
    g_fake=lambda f: F.softplus(-f).mean(), probabilistic=True,
))
register_loss(SeparableLoss(
    "ns", "non-saturating (Goodfellow et al. 2014): D as bce, G minimises -log D(G(z)); the same maths as bce",
    d_real=lambda r: F.softplus(-r).mean(), d_fake=lambda f: F.softplus(f).mean(),
    g_fake=lambda f: F.softplus(-f).mean(), probabilistic=True,
))
register_loss(SeparableLoss(
    "minimax", "the original saturating minimax game: G minimises log(1 - D(G(z)))",
    d_real=lambda r: F.softplus(-r).mean(), d_fake=lambda f: F.softplus(f).mean(),
    g_fake=lambda f: -F.softplus(f).mean(), probabilistic=True,
))
register_loss(SeparableLoss(
    "hinge", "hinge loss (Lim & Ye 2017; SNGAN, BigGAN)",
    d_real=lambda r: F.relu(1.0 - r).mean(), d_fake=lambda f: F.relu(1.0 + f).mean(),
    g_fake=lambda f: -f.mean(), probabilistic=False,
))
register_loss(SeparableLoss(
    "lsgan", "least squares (Mao et al. 2017), targets 1 for real and 0 for fake",
    d_real=lambda r: 0.5 * (r - 1.0).pow(2).mean(), d_fake=lambda f: 0.5 * f.pow(2).mean(),
    g_fake=lambda f: 0.5 * (f - 1.0).pow(2).mean(), probabilistic=False,
))
register_loss(SeparableLoss(
    "wasserstein", "Wasserstein critic loss (pair it with a gradient penalty or weight constraint)",
    d_real=lambda r: -r.mean(), d_fake=lambda f: f.mean(),
    g_fake=lambda f: -f.mean(), probabilistic=False,
))
register_loss(RelativisticPairLoss(
    "rpgan", "relativistic pairing (RpGAN, R3GAN's loss): each real logit against a fake one; pair it with "
             "R1 and R2 (--r1-gamma, --r2-gamma)",
))
