"""On-disk cache of real-split features, so a second evaluation does not recompute them.

One safetensors file per (dataset, split, image shape, resize, n, extractor, extractor-weights sha). It holds
the raw features (not just mean/covariance) so FID, KID and precision/recall can all reuse the same file, and
in its metadata a few notes on the images (how they were converted), for the protocol of every number.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ganforge.fileio import atomic_path
from ganforge.metrics import paths

Notes = dict[str, str]
_NOTE = "note:"  # metadata prefix of the notes, apart from the key's fields


@dataclass(frozen=True)
class StatsKey:
    dataset: str
    split: str
    shape: tuple[int, int, int] | None  # C, H, W the real images were converted to; None: native
    n: int  # requested number of real images (the file records how many there were)
    extractor: str
    weights_sha256: str
    resize: str = ""  # how images were brought to ``shape`` (realdata.resize_name); "" for native images

    def filename(self) -> str:
        shape = "x".join(map(str, self.shape)) if self.shape else "native"
        sha = self.weights_sha256[:16]
        resize = f"-{self.resize}" if self.resize else ""
        return f"{self.dataset}-{self.split}-{shape}-n{self.n}-{self.extractor}-{sha}{resize}.safetensors"


def stats_path(key: StatsKey) -> Path:
    return paths.cache_root() / "stats" / key.filename()


def cached_features(
    key: StatsKey, compute: Callable[[], dict[str, torch.Tensor]], *, log: Callable[[str], None] = print
) -> dict[str, torch.Tensor]:
    """Load the features for ``key`` from the cache, or compute and store them."""
    return cached_with_notes(key, lambda: (compute(), {}), log=log)[0]


def cached_with_notes(
    key: StatsKey,
    compute: Callable[[], tuple[dict[str, torch.Tensor], Notes]],
    *,
    log: Callable[[str], None] = print,
) -> tuple[dict[str, torch.Tensor], Notes]:
    """Like ``cached_features``, with the notes ``compute`` returned beside the features kept too."""
    path = stats_path(key)
    if path.is_file():
        try:
            with safe_open(path, framework="pt") as f:
                meta = f.metadata() or {}
                features = {name: f.get_tensor(name) for name in f.keys()}
            return features, {k[len(_NOTE) :]: v for k, v in meta.items() if k.startswith(_NOTE)}
        except (SafetensorError, OSError) as e:  # a damaged cache file is recomputed, not fatal
            log(f"Ignoring unreadable stats cache {path}: {e}")
    features, notes = compute()
    meta = {k: json.dumps(v) for k, v in asdict(key).items()}
    meta["count"] = str(len(next(iter(features.values()))))
    meta.update({_NOTE + k: v for k, v in notes.items()})
    try:
        with atomic_path(path) as tmp:
            save_file({k: v.contiguous() for k, v in features.items()}, os.fspath(tmp), metadata=meta)
    except OSError as e:  # a read-only cache only costs time
        log(f"Could not write stats cache {path}: {e}")
    return features, notes
