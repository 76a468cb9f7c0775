"""On-disk cache of real-split features, so a second evaluation does not recompute them.

One safetensors file per (dataset, split, image shape, n, extractor, extractor-weights sha). It holds the raw
features (not just mean/covariance) so FID, KID and precision/recall can all reuse the same file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ganforge.fileio import atomic_path
from ganforge.metrics import paths


@dataclass(frozen=True)
class StatsKey:
    dataset: str
    split: str
    shape: tuple[int, int, int] | None  # C, H, W the real images were converted to; None: native
    n: int  # requested number of real images (the file records how many there were)
    extractor: str
    weights_sha256: str

    def filename(self) -> str:
        shape = "x".join(map(str, self.shape)) if self.shape else "native"
        sha = self.weights_sha256[:16]
        return f"{self.dataset}-{self.split}-{shape}-n{self.n}-{self.extractor}-{sha}.safetensors"


def stats_path(key: StatsKey) -> Path:
    return paths.cache_root() / "stats" / key.filename()


def cached_features(
    key: StatsKey, compute: Callable[[], dict[str, torch.Tensor]], *, log: Callable[[str], None] = print
) -> dict[str, torch.Tensor]:
    """Load the features for ``key`` from the cache, or compute and store them."""
    path = stats_path(key)
    if path.is_file():
        try:
            return load_file(path)
        except (SafetensorError, OSError) as e:  # a damaged cache file is recomputed, not fatal
            log(f"Ignoring unreadable stats cache {path}: {e}")
    features = compute()
    meta = {k: json.dumps(v) for k, v in asdict(key).items()}
    meta["count"] = str(len(next(iter(features.values()))))
    try:
        with atomic_path(path) as tmp:
            save_file({k: v.contiguous() for k, v in features.items()}, os.fspath(tmp), metadata=meta)
    except OSError as e:  # a read-only cache only costs time
        log(f"Could not write stats cache {path}: {e}")
    return features
