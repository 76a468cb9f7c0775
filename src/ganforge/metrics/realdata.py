"""The real images a run is compared with: which dataset split, which subset, under which cache name."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from ganforge.errors import GanforgeError

SUBSET_SEED = 0  # real subsets are the first n of a fixed permutation, so every eval uses the same images
# How real images reach the run's shape (data.convert.resize_square), by the run's fit: part of the stats-cache
# key, so another resize or crop could never reuse these features. Training-time augmentation (flips, the
# run's mirror) does not touch them.
RESIZE = "short-side-aa-crop"
RESIZES = {"crop": RESIZE, "resize": "aa-squeeze"}


def resize_name(fit: str) -> str:
    """The stats-cache name of the resize that ``fit`` makes."""
    if fit not in RESIZES:
        raise GanforgeError(f"fit must be one of {', '.join(RESIZES)}, got {fit!r}")
    return RESIZES[fit]


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


@dataclass(frozen=True)
class RealImages:
    images: torch.Tensor  # uint8 N x C x H x W
    description: str  # what was done to the stored images, for the protocol


def load_real(
    dataset: str,
    split: str,
    n: int,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    shape: tuple[int, int, int] | None = None,
    fit: str = "crop",
    log: Callable[[str], None] = print,
) -> RealImages:
    """Up to ``n`` real images of ``dataset``/``split`` (a fixed random subset when there are more), converted
    to ``shape`` (C, H, W) if given and made square as ``fit`` says, with a description of the conversion."""
    from ganforge.data import load_dataset
    from ganforge.data.convert import convert_images

    resize_name(fit)
    channels, size = (shape[0], shape[1]) if shape is not None else (None, None)
    if dataset.startswith("folder:"):  # decoded straight to the requested shape (see data.folder)
        # A folder too big for memory is streamed: only the subset is decoded.
        loaded = load_dataset(dataset, split=split, data_dir=data_dir, channels=channels, size=size, fit=fit,
                              streaming=True, log=log)
        images = loaded.subset(_subset(len(loaded), n))
        c, h, w = images.shape[1:]
        square = (f"shorter side resized to {h} (bilinear, antialiased), centre-cropped to {h}x{w}" if fit == "crop"
                  else f"resized whole to {h}x{w} (bilinear, antialiased)")
        description = f"image files decoded as {_tone(c)} (transparency over white), {square}"
        return RealImages(images, description)
    # the same steps as load_dataset(..., channels, size), with the stored shape noted in between
    images = load_dataset(dataset, split=split, data_dir=data_dir, log=log).images
    stored = tuple(images.shape[1:])
    images = convert_images(images, channels, size, fit)
    description = describe_conversion(stored, tuple(images.shape[1:]), fit)
    subset = _subset(len(images), n)
    return RealImages(images if subset is None else images[subset], description)


def _subset(count: int, n: int) -> torch.Tensor | None:
    """The first ``n`` of a fixed permutation of ``count`` images (None: all of them)."""
    if n >= count:
        return None
    return torch.randperm(count, generator=torch.Generator().manual_seed(SUBSET_SEED))[:n]


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
    return load_real(dataset, split, n, data_dir=data_dir, shape=shape, log=log).images


def _tone(channels: int) -> str:
    return "grey" if channels == 1 else "RGB"


def describe_shape(shape: tuple[int, ...]) -> str:
    """(1, 28, 28) -> "28x28 grey"."""
    return f"{shape[1]}x{shape[2]} {_tone(shape[0])}"


def describe_conversion(stored: tuple[int, ...], shape: tuple[int, ...], fit: str = "crop") -> str:
    """What ``data.convert.convert_images`` did to bring images of shape ``stored`` to ``shape``."""
    if tuple(stored) == tuple(shape):
        return f"{describe_shape(stored)} as stored"
    steps = []
    if stored[0] != shape[0]:
        steps.append("luminance (ITU-R 601-2)" if shape[0] == 1 else "grey copied to 3 channels")
    if tuple(stored[1:]) != tuple(shape[1:]):
        steps.append(f"shorter side resized to {shape[1]} (bilinear, antialiased), centre-cropped" if fit == "crop"
                     else f"resized whole to {shape[1]}x{shape[2]} (bilinear, antialiased)")
    return f"{describe_shape(stored)} -> {describe_shape(shape)}: {', '.join(steps)}"


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
        loaded = load_dataset(dataset, split=split, data_dir=data_dir, streaming=True, log=log)  # labels only
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

    A folder dataset is named by a hash of its content: every image file the loader reads, by its path
    below the folder and its bytes. Editing, adding or removing an image changes the name; moving the
    folder or touching a file does not.
    """
    if not dataset.startswith("folder:"):
        return dataset
    return "folder-" + folder_content_hash(dataset[len("folder:") :])[:12]


_content_hashes: dict[tuple, str] = {}  # by the files' (path, size, mtime): one read of the bytes per process


def folder_content_hash(path: str | os.PathLike[str]) -> str:
    from ganforge.data.folder import find_images

    root = Path(os.path.abspath(Path(path).expanduser()))
    if not root.is_dir():
        raise GanforgeError(f"image folder not found: {root} (folder:PATH needs a folder of images)")
    files = find_images(root)
    stamp = []
    for file in files:
        try:
            st = file.stat()
            stamp.append((str(file), st.st_size, st.st_mtime_ns))
        except OSError:  # a broken link: unreadable, as the loader will find
            stamp.append((str(file), -1, -1))
    key = tuple(stamp)
    if key not in _content_hashes:
        h = hashlib.sha256()
        for file, (_, size, _) in zip(files, stamp):
            h.update(f"{file.relative_to(root).as_posix()}:{size};".encode())
            h.update(_file_sha256(file).encode())
        _content_hashes[key] = h.hexdigest()
    return _content_hashes[key]


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    except OSError:  # no permission, a broken link: the loader skips the file and names it
        return "unreadable"
    return h.hexdigest()
