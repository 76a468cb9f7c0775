"""A folder's images decoded once: kept in the user cache, or streamed when they would not fit in memory.

``open_folder`` lists the folder, works out the decoded size (images x channels x side x side bytes) and:

- within the memory budget, loads the decoded images from ``user_cache_dir()/folders/`` when a file there
  matches, else decodes the folder and writes that file (safetensors, atomically) for the next run;
- over it, with ``streaming`` allowed, returns a :class:`~ganforge.data.stream.StreamingDataset` that decodes
  images when a batch asks for them (no cache: the point is not to hold them);
- over it without ``streaming`` (a caller that needs every image at once), decodes them all in memory.

A cache file is named by a hash of the folder's content as the file system describes it (each image file's
path below the folder, size and mtime_ns, and their count) and of the preprocessing (channels, side, fit):
editing, adding, removing or touching an image, or asking for another shape, makes a new file; moving the
folder does not. Old files are never deleted here; removing ``folders/`` is always safe.

The budget is a quarter of the machine's memory, at most ``BUDGET_CAP``; ``$GANFORGE_MEMORY_BUDGET_MB``
sets another.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ganforge.data.dataset import ImageDataset
from ganforge.data.folder import BACKGROUND, FolderListing, decode_folder, folder_dataset, list_folder, report_skipped
from ganforge.data.paths import user_cache_dir
from ganforge.data.stream import StreamingDataset, open_stream
from ganforge.errors import GanforgeError
from ganforge.fileio import WriteError, atomic_path

BUDGET_ENV = "GANFORGE_MEMORY_BUDGET_MB"
BUDGET_CAP = 8 << 30  # bytes; the images also go to the training device, which may hold less than the host
CACHE_FORMAT = "ganforge-folder-cache-1"  # part of every key: a change of decoding makes new files
Log = Callable[[str], None]


def open_folder(path: str | os.PathLike[str], *, channels: int, size: int, fit: str = "crop",
                streaming: bool = False, log: Log = print) -> ImageDataset | StreamingDataset:
    """The images under ``path`` as ``channels`` x ``size`` x ``size`` uint8 (see the module docstring)."""
    listing = list_folder(path, log)
    need, budget = len(listing.files) * channels * size * size, memory_budget()
    if need > budget:
        over = (f"{len(listing.files):,} images of {listing.root} take {_mb(need)} decoded, over the memory budget "
                f"of {_mb(budget)} (${BUDGET_ENV})")
        if streaming:
            log(f"{over}: streaming them from disk through worker processes")
            return open_stream(listing, channels=channels, size=size, fit=fit, log=log)
        log(f"{over}: decoding them all in memory anyway, without caching them")
        return decode_folder(listing, channels=channels, size=size, fit=fit, log=log)[0]

    file = cache_file(listing, channels=channels, size=size, fit=fit)
    start = time.perf_counter()
    file = _existing(file)
    cached = _read(file, listing, (channels, size, size), log)
    if cached is not None:
        log(f"loaded {_images(len(cached))} from the cache in {_seconds(time.perf_counter() - start)} ({file})")
        return cached
    dataset, skipped = decode_folder(listing, channels=channels, size=size, fit=fit, log=log)
    took = time.perf_counter() - start
    try:
        _write(file, dataset, skipped)
    except WriteError as e:  # a read-only or full cache costs the next run a decode, not this one
        log(f"decoded {_images(len(dataset))} in {_seconds(took)} (not cached: {e})")
    else:
        log(f"decoded {_images(len(dataset))} in {_seconds(took)} (cached for next time)")
    return dataset


def memory_budget() -> int:
    """Bytes of decoded images a folder may take in memory before it is streamed instead."""
    raw = os.environ.get(BUDGET_ENV, "").strip()
    if raw:
        try:
            mb = float(raw)
        except ValueError:
            mb = math.nan
        if not (0 < mb < math.inf):
            raise GanforgeError(f"${BUDGET_ENV} must be a positive number of megabytes, got {raw!r}")
        return int(mb * (1 << 20))
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # not a POSIX system: assume a small machine
        total = 8 << 30
    return min(total // 4, BUDGET_CAP)


def cache_file(listing: FolderListing, *, channels: int, size: int, fit: str) -> Path:
    """Where the decoded images of ``listing`` in this shape are kept (see the module docstring)."""
    h = hashlib.sha256(f"{CACHE_FORMAT};{BACKGROUND};c{channels};s{size};{fit};n{len(listing.files)}\n".encode())
    for file in listing.files:
        try:
            st = file.stat()
            stamp = f"{st.st_size};{st.st_mtime_ns}"
        except OSError:  # a broken link or no permission: the decoder skips it; its state is part of the key
            stamp = "unreadable"
        h.update(f"{file.relative_to(listing.root).as_posix()}\0{stamp}\n".encode())
    name = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in listing.root.name)[:40] or "folder"
    return user_cache_dir() / "folders" / f"{name}-{channels}x{size}-{fit}-{h.hexdigest()[:24]}.safetensors"


def _existing(file: Path) -> Path:
    """A cache file with the key of ``file``, whatever folder name it starts with (the name is for a person
    looking; the hash at its end is the key, so a renamed folder finds its images under the old name)."""
    digest = file.stem.rsplit("-", 1)[-1]
    found = sorted(file.parent.glob(f"*-{digest}.safetensors")) if file.parent.is_dir() else []
    return found[0] if found else file


def _read(file: Path, listing: FolderListing, shape: tuple[int, int, int], log: Log) -> ImageDataset | None:
    """The cached dataset, or None when there is none or it cannot be used (then it is decoded again)."""
    if not file.is_file():
        return None
    try:
        with safe_open(str(file), "pt") as f:
            meta = f.metadata() or {}
            images, labels = f.get_tensor("images"), f.get_tensor("labels")
        class_names = json.loads(meta["class_names"])
        skipped = [(Path(p), why) for p, why in json.loads(meta["skipped"])]
        if meta.get("format") != CACHE_FORMAT or images.dtype != torch.uint8 or tuple(images.shape[1:]) != shape:
            raise ValueError("another layout")
        if labels.dtype != torch.int64 or labels.shape != images.shape[:1]:
            raise ValueError("labels do not match the images")
    except (OSError, SafetensorError, KeyError, ValueError, TypeError) as e:
        log(f"the cached copy of {listing.root} cannot be used ({' '.join(str(e).split()) or type(e).__name__}); "
            f"decoding the folder again")
        return None
    report_skipped(skipped, listing.root, log)  # as a decode would name them
    return folder_dataset(listing.root, images, labels, class_names, len(skipped))


def _write(file: Path, dataset: ImageDataset, skipped: list[tuple[Path, str]]) -> None:
    labels = dataset.labels if dataset.labels is not None else torch.zeros(len(dataset), dtype=torch.int64)
    meta = {"format": CACHE_FORMAT, "class_names": json.dumps(dataset.class_names),
            "skipped": json.dumps([[p.as_posix(), why] for p, why in skipped])}
    with atomic_path(file) as tmp:
        save_file({"images": dataset.images.contiguous(), "labels": labels}, str(tmp), metadata=meta)


def _mb(n: int) -> str:
    return f"{n / (1 << 20):,.0f} MB" if n >= 1 << 20 else f"{n / (1 << 20):.2f} MB"


def _images(n: int) -> str:
    return f"{n:,} image" + ("" if n == 1 else "s")


def _seconds(t: float) -> str:
    return f"{t:.1f} s" if t >= 0.1 else f"{t * 1000:.0f} ms"
