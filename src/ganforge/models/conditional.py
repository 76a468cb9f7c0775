"""Class conditioning: conditional BatchNorm for generators, a projection head for discriminators.

- ``ConditionalBatchNorm2d`` / ``1d`` (de Vries et al. 2017; Miyato & Koyama 2018; BigGAN): batch
  normalisation without affine parameters of its own, then a gain and a bias looked up per class,
  ``gain[y] * BN(x) + bias[y]``. Gains start at 1 and biases at 0, so a fresh conditional BN is a fresh BN.
- ``ProjectionHead`` (Miyato & Koyama 2018, "cGANs with Projection Discriminator"): the logit is
  ``psi(h) + <embed(y), h>`` on the discriminator's features ``h``.
- ``conditional_sequential``: the same ``nn.Sequential`` generator with every BatchNorm made conditional.
- ``call(model, x, y)``: ``model(x)`` when ``y`` is None, else ``model(x, y)``, so unconditional models
  keep their one-argument ``forward``.

A conditional model has ``num_classes: int``; an unconditional one has ``num_classes = None`` or none.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def call(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """Run ``model`` on ``x``, passing the class labels ``y`` only when there are any."""
    return model(x) if y is None else model(x, y)


def num_classes_of(model: nn.Module) -> int | None:
    return getattr(model, "num_classes", None)


def _require_labels(y: torch.Tensor | None, what: str) -> torch.Tensor:
    if y is None:
        raise ValueError(f"{what} is class-conditional: it needs the class labels y")
    return y


class _ConditionalBatchNorm(nn.Module):
    _dims = 0  # the input's number of dimensions, N and C included

    def __init__(self, num_features: int, num_classes: int, *, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.num_features, self.num_classes, self.eps, self.momentum = num_features, num_classes, eps, momentum
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.gain = nn.Embedding(num_classes, num_features)
        self.bias = nn.Embedding(num_classes, num_features)
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        y = _require_labels(y, type(self).__name__)
        if x.dim() != self._dims:
            raise ValueError(f"{type(self).__name__} expects {self._dims}-d input, got {tuple(x.shape)}")
        out = F.batch_norm(x, self.running_mean, self.running_var, None, None, self.training, self.momentum, self.eps)
        shape = (x.shape[0], self.num_features) + (1,) * (x.dim() - 2)
        return out * self.gain(y).view(shape) + self.bias(y).view(shape)

    def extra_repr(self) -> str:
        return f"{self.num_features}, num_classes={self.num_classes}, eps={self.eps}, momentum={self.momentum}"


class ConditionalBatchNorm1d(_ConditionalBatchNorm):
    """Conditional BN over N x C features (after a dense layer)."""

    _dims = 2


class ConditionalBatchNorm2d(_ConditionalBatchNorm):
    """Conditional BN over N x C x H x W feature maps."""

    _dims = 4


class ConditionalSequential(nn.Sequential):
    """``nn.Sequential`` that hands the labels to its conditional layers."""

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:  # type: ignore[override]
        y = _require_labels(y, "this generator")
        for module in self:
            x = module(x, y) if isinstance(module, _ConditionalBatchNorm) else module(x)
        return x


def conditional_sequential(net: nn.Sequential, num_classes: int) -> ConditionalSequential:
    """``net`` with each BatchNorm1d/2d replaced by a conditional one of the same size, eps and momentum.

    Layer indices stay the same, so the weights keep their names (``net.3.weight`` and so on).
    """
    layers: list[nn.Module] = []
    for m in net:
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            cls = ConditionalBatchNorm1d if isinstance(m, nn.BatchNorm1d) else ConditionalBatchNorm2d
            m = cls(m.num_features, num_classes, eps=m.eps, momentum=m.momentum)
        layers.append(m)
    return ConditionalSequential(*layers)


class ProjectionHead(nn.Module):
    """A discriminator's last layer with class projection: ``psi(h) + <embed(y), h>`` for N x F features."""

    def __init__(self, in_features: int, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.linear = nn.Linear(in_features, 1)  # psi
        self.embed = nn.Embedding(num_classes, in_features)
        # Glorot, as the authors' code (nn.Embedding's N(0, 1) would swamp psi at the start).
        nn.init.xavier_uniform_(self.embed.weight)

    def forward(self, h: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        y = _require_labels(y, "this discriminator")
        return self.linear(h).squeeze(1) + (self.embed(y) * h).sum(1)
