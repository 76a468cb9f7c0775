"""The unconditional face of a self-conditioned generator (``--clusters K``; see ``ganforge.data.clusters``).

G is trained conditioned on clusters of the real images; a user asks it for images, not clusters. The
sampling generator takes one more latent coordinate than G, and that coordinate picks the cluster through
the clusters' cumulative shares (its normal CDF falls in cluster c's slice with probability share[c]). So
``z ~ N(0, I)`` gives clusters as often as they occur in the data, independent of G's own latent, the same
``z`` always gives the same image, and the exported model is a plain function of ``z``.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class ClusterSampled(nn.Module):
    """``inner(z[:, :-1], cluster(z[:, -1]))``; its state dict is ``inner``'s (the shares are config)."""

    def __init__(self, inner: nn.Module, shares: list[float]) -> None:
        super().__init__()
        self.inner = inner
        edges = torch.tensor(shares, dtype=torch.float64).cumsum(0)[:-1].float()
        self.register_buffer("edges", edges, persistent=False)

    def clusters(self, last: torch.Tensor) -> torch.Tensor:
        u = 0.5 * (1 + torch.erf(last.float() / math.sqrt(2)))  # the normal CDF, with ops ONNX has
        return (u[:, None] > self.edges[None, :]).sum(1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.inner(z[:, :-1], self.clusters(z[:, -1]))


def sampling_z_dim(z_dim: int, clusters: int | None) -> int:
    """The latent size users sample with: G's, plus the coordinate that picks the cluster when there are clusters."""
    return z_dim + (clusters is not None)


def sampling_generator(generator: nn.Module, shares: list[float] | None) -> nn.Module:
    """What users sample: ``generator`` itself, or for a self-conditioned run its unconditional face."""
    return generator if shares is None else ClusterSampled(generator, shares)


def trained_generator(module: nn.Module) -> nn.Module:
    """The trained network inside a sampling generator (whose weights a pretrained folder holds)."""
    return module.inner if isinstance(module, ClusterSampled) else module


def draw_clusters(shares: list[float] | torch.Tensor, n: int, *, device: torch.device | str = "cpu",
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` cluster indices drawn in the clusters' shares (a list, or a tensor already on ``device``)."""
    weights = torch.as_tensor(shares, dtype=torch.float32, device=device)
    return torch.multinomial(weights, n, replacement=True, generator=generator)
