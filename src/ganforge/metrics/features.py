"""Batched feature extraction with a progress bar (one helper for every extractor)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from tqdm import tqdm

Extractor = Callable[[torch.Tensor], dict[str, torch.Tensor]]


def extract(
    extractor: Extractor, images: torch.Tensor, *, batch_size: int, desc: str, progress: bool = True
) -> dict[str, torch.Tensor]:
    """Run ``extractor`` over ``images`` in batches and concatenate its outputs (kept on the CPU)."""
    parts: dict[str, list[torch.Tensor]] = {}
    with tqdm(total=len(images), unit="img", desc=desc, disable=not progress, leave=False) as bar:
        for start in range(0, len(images), batch_size):
            out = extractor(images[start : start + batch_size])
            for key, value in out.items():
                parts.setdefault(key, []).append(value.cpu())
            bar.update(min(batch_size, len(images) - start))
    return {key: torch.cat(values) for key, values in parts.items()}
