"""GAN losses, one registered entry each. Discriminators output logits.

A loss splits the discriminator's objective into its real and fake halves because some training
schemes (the SGD tutorial) update D on real and fake batches separately.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


@dataclass(frozen=True)
class GANLoss:
    name: str
    description: str
    d_real: Callable[[Tensor], Tensor]  # mean loss of D on real logits
    d_fake: Callable[[Tensor], Tensor]  # mean loss of D on fake logits
    g: Callable[[Tensor], Tensor]  # mean loss of G given D's logits on fakes
    probabilistic: bool  # D's output reads as a probability through a sigmoid (for D(x) in logs)


LOSSES: dict[str, GANLoss] = {}


def register_loss(loss: GANLoss) -> GANLoss:
    LOSSES[loss.name] = loss
    return loss


# Binary cross-entropy with labels 1 for real, 0 for fake; G is trained with label 1 on fakes,
# as the tutorials' combined models do (-log D(G(z)), the non-saturating form).
# softplus(-x) = -log(sigmoid(x)) and softplus(x) = -log(1 - sigmoid(x)), without overflow.
register_loss(GANLoss(
    "bce", "binary cross-entropy, G with 'real' labels (-log D(G(z))), as the Keras tutorials",
    d_real=lambda r: F.softplus(-r).mean(), d_fake=lambda f: F.softplus(f).mean(),
    g=lambda f: F.softplus(-f).mean(), probabilistic=True,
))
register_loss(GANLoss(
    "ns", "non-saturating (Goodfellow et al. 2014): D as bce, G minimises -log D(G(z)); the same maths as bce",
    d_real=lambda r: F.softplus(-r).mean(), d_fake=lambda f: F.softplus(f).mean(),
    g=lambda f: F.softplus(-f).mean(), probabilistic=True,
))
register_loss(GANLoss(
    "minimax", "the original saturating minimax game: G minimises log(1 - D(G(z)))",
    d_real=lambda r: F.softplus(-r).mean(), d_fake=lambda f: F.softplus(f).mean(),
    g=lambda f: -F.softplus(f).mean(), probabilistic=True,
))
register_loss(GANLoss(
    "hinge", "hinge loss (Lim & Ye 2017; SNGAN, BigGAN)",
    d_real=lambda r: F.relu(1.0 - r).mean(), d_fake=lambda f: F.relu(1.0 + f).mean(),
    g=lambda f: -f.mean(), probabilistic=False,
))
register_loss(GANLoss(
    "lsgan", "least squares (Mao et al. 2017), targets 1 for real and 0 for fake",
    d_real=lambda r: 0.5 * (r - 1.0).pow(2).mean(), d_fake=lambda f: 0.5 * f.pow(2).mean(),
    g=lambda f: 0.5 * (f - 1.0).pow(2).mean(), probabilistic=False,
))
register_loss(GANLoss(
    "wasserstein", "Wasserstein critic loss (pair it with a gradient penalty or weight constraint)",
    d_real=lambda r: -r.mean(), d_fake=lambda f: f.mean(),
    g=lambda f: -f.mean(), probabilistic=False,
))
