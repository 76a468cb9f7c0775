"""Keras-style summaries of a config's G and D, built as training builds them (``build_models``)."""

from __future__ import annotations

import torch

from ..config import RunConfig
from ..models.summary import Summary, summarize
from .registry import build_models, d_channels

EXAMPLE_BATCH = 2  # the batch of the summary's forward pass: BatchNorm in eval mode takes any


def example_inputs(cfg: RunConfig, batch: int = EXAMPLE_BATCH) -> tuple[tuple[torch.Tensor, ...],
                                                                          tuple[torch.Tensor, ...]]:
    """(G's inputs, D's inputs) for a forward pass of ``cfg``'s networks: noise, images of D's shape (PacGAN
    stacks ``pack`` images on the channels), and class labels where the run is conditional."""
    gen = torch.Generator().manual_seed(0)  # its own stream: summarising leaves the global one alone
    z = torch.randn(batch, cfg.z_dim, generator=gen)
    x = torch.rand(batch, d_channels(cfg), cfg.resolution, cfg.resolution, generator=gen) * 2 - 1
    if not cfg.num_classes:
        return (z,), (x,)
    y = torch.arange(batch) % cfg.num_classes
    return (z, y), (x, y)


def summarize_preset(cfg: RunConfig) -> tuple[Summary, Summary]:
    """The summaries of the generator and the discriminator that ``cfg`` builds (on the CPU)."""
    g, d = build_models(cfg)  # no device: the networks as written, without the speed tricks
    g_in, d_in = example_inputs(cfg)
    return summarize(g, g_in, name="generator"), summarize(d, d_in, name="discriminator")
