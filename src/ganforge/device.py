"""Choosing the torch device a command runs on."""

from __future__ import annotations

import torch

from .errors import GanforgeError


def resolve_device(name: str | None) -> torch.device:
    """``auto`` (or None) is the GPU when there is one, else the CPU; a CUDA device that is not there is an error."""
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise GanforgeError(f"device '{name}' was asked for but no CUDA GPU is available; use --device cpu")
    return torch.device(name)
