"""The real images a run is compared with: which dataset split, which subset, under which cache name."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable

import torch

from ganforge.errors import GanforgeError

SUBSET_SEED = 0  # real subsets are the first n of a fixed permutation, so every eval uses the same images


def real_source(dataset: str, split: str, log: Callable[[str], None] = print) -> tuple[str, str]:
    """(dataset, split) to load for a run trained on ``dataset``, when ``split`` has no files of its own."""
    if dataset == "mnist-sample" and split == "test":
        # The shipped sample is 5k MNIST train digits: MNIST's test split is the matching held-out data.
        log("mnist-sample has no test split: comparing with the mnist test split (or use --split train)")
        return "mnist", split
    if dataset.startswith("folder:") and split == "test":
        log(f"{dataset} has only a train split: comparing with it")
        return dataset, "train"
    return dataset, split


def load_real_images(
    dataset: str,
    split: str,
    n: int,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    shape: tuple[int, int, int] | None = None,
    log: Callable[[str], None] = print,
) -> torch.Tensor:
    """Up to ``n`` real uint8 images of ``dataset``/``split``, converted to ``shape`` (C, H, W) if given."""
    from ganforge.data import load_dataset

    channels, size = (shape[0], shape[1]) if shape is not None else (None, None)
    loaded = load_dataset(dataset, split=split, data_dir=data_dir, channels=channels, size=size, log=log)
    images = loaded.images
    if n < len(images):
        perm = torch.randperm(len(images), generator=torch.Generator().manual_seed(SUBSET_SEED))
        images = images[perm[:n]]
    return images


def real_class_counts(
    dataset: str,
    split: str,
    num_classes: int,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    log: Callable[[str], None] = print,
) -> torch.Tensor:
    """How many images of each class the real split holds (int64, length ``num_classes``).

    Cached with the real features, so an evaluation whose features are cached needs no data either.
    """
    from ganforge.data import load_dataset
    from ganforge.metrics.stats_cache import StatsKey, cached_features

    def count() -> dict[str, torch.Tensor]:
        loaded = load_dataset(dataset, split=split, data_dir=data_dir, log=log)
        if loaded.labels is None:
            raise GanforgeError(f"{dataset} ({split} split) has no class labels to take the class mix from; "
                                "use --classes uniform")
        return {"counts": torch.bincount(loaded.labels, minlength=1)}

    key = StatsKey(cache_name(dataset), split, None, 0, "class-counts", "labels")
    counts = cached_features(key, count, log=log)["counts"]
    if len(counts) > num_classes:
        raise GanforgeError(f"{dataset} ({split} split) has {len(counts)} classes but the run was "
                            f"trained with {num_classes}; use --classes uniform")
    return torch.cat([counts, counts.new_zeros(num_classes - len(counts))])


def class_mix(counts: torch.Tensor, n: int) -> torch.Tensor:
    """``n`` class labels in the proportions of ``counts``, interleaved so that every prefix keeps them.

    Each class gets its largest-remainder share of ``n``; class c's j-th label is placed at
    (j + 0.5) / share_c along the sequence, so the first k labels (the Inception metrics use a prefix)
    are as close to the mix as k allows. Equal counts give 0, 1, ..., C-1, 0, 1, ...
    """
    counts = torch.as_tensor(counts, dtype=torch.float64)
    if counts.ndim != 1 or len(counts) == 0 or bool((counts < 0).any()) or float(counts.sum()) <= 0:
        raise GanforgeError(f"class counts must be non-negative with a positive total, got {counts.tolist()}")
    exact = counts / counts.sum() * n
    share = exact.floor().long()
    left = n - int(share.sum())
    if left:  # the largest remainders take the leftover labels (ties: the lower class)
        order = sorted(range(len(counts)), key=lambda c: (-(float(exact[c]) - int(share[c])), c))
        for c in order[:left]:
            share[c] += 1
    labels = torch.repeat_interleave(torch.arange(len(counts)), share)
    place = torch.cat([(torch.arange(int(k), dtype=torch.float64) + 0.5) / int(k) for k in share if k > 0])
    return labels[torch.sort(place, stable=True).indices]


def cache_name(dataset: str) -> str:
    """A file-name-safe dataset name for the stats cache.

    Folder datasets get a hash of their path and of every file's name, size and mtime, so editing the
    folder invalidates its cached features.
    """
    if not dataset.startswith("folder:"):
        return dataset
    root = os.path.abspath(os.path.expanduser(dataset[len("folder:") :]))
    h = hashlib.sha256(root.encode())
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(folder, name)
            st = os.stat(path)
            h.update(f"{os.path.relpath(path, root)}:{st.st_size}:{st.st_mtime_ns};".encode())
    return "folder-" + h.hexdigest()[:12]
