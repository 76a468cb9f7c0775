"""PacGAN packing (Lin et al. 2018, "PacGAN: The power of two samples in generative adversarial networks").

D judges m samples at once: m consecutive images of a batch are stacked along the channels, so a
generator that drops modes makes packs that look alike, which D can tell from real packs. The trainer
packs real and fake batches separately (never one pack of both) behind DiffAugment; presets build D
with m times the channels (``presets.config_d_channels``).
"""

from __future__ import annotations

import torch

from .errors import GanforgeError


def pack(x: torch.Tensor, m: int) -> torch.Tensor:
    """(B, C, H, W) -> (B/m, m*C, H, W): image ``i*m + j`` becomes channel block ``j`` of pack ``i``.
    A reshape, so gradients flow back to each image (the penalties are taken on unpacked images)."""
    if m == 1:
        return x
    b = x.shape[0]
    if b % m:
        raise GanforgeError(f"a batch of {b} images cannot be packed by {m}; the batch size must be a multiple of {m}")
    return x.reshape(b // m, m * x.shape[1], *x.shape[2:])
