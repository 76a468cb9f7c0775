"""The real images a run is compared with: which dataset split, which subset, under which cache name."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable

import torch

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
