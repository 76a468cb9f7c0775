"""A folder too big for memory: its images decoded one by one when asked for, by index.

``StreamingDataset`` holds the file list and labels, not the pixels. Image ``i`` is decoded exactly as the
in-memory loader decodes it (``folder.decode_image`` then ``convert.resize_square``), so a batch of given
indices holds the same bytes on either path. The training loop reads it through worker processes
(``training.sampler.StreamingSampler``).

Files are checked when the dataset is opened by reading their headers (no pixels): those that cannot be
opened are skipped and named, as the in-memory loader does. A file that opens but fails to decode later
(a truncated one) cannot be skipped without shifting every index after it, so it is replaced by the next
image in order, and named on stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from PIL import Image
from tqdm import tqdm

from ganforge.data.convert import resize_square
from ganforge.data.folder import FolderListing, decode_image, report_skipped, why_unreadable
from ganforge.errors import GanforgeError


class StreamingDataset:
    """The images of a folder, decoded on demand: ``decode(i)`` is uint8 C x size x size.

    The same reading interface as :class:`~ganforge.data.dataset.ImageDataset` (``name``, ``labels``,
    ``class_names``, ``num_classes``, ``source``, ``len``, ``image_shape``, ``subset``) except ``images``.
    """

    def __init__(self, root: Path, files: list[Path], labels: torch.Tensor | None, class_names: list[str] | None,
                 *, channels: int, size: int, fit: str, skipped: int = 0) -> None:
        self.root, self.files, self.labels, self.class_names = root, files, labels, class_names
        self.channels, self.size, self.fit = channels, size, fit
        self.name = f"folder:{root}"
        self.source = (f"{len(files):,} images streamed from {root}"
                       + (f", {skipped} unreadable skipped" if skipped else ""))
        self._warned: set[int] = set()

    @property
    def num_classes(self) -> int | None:
        return len(self.class_names) if self.class_names is not None else None

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.channels, self.size, self.size)

    def __len__(self) -> int:
        return len(self.files)

    def __repr__(self) -> str:
        return (f"StreamingDataset(name={self.name!r}, images={len(self)}x{self.channels}x{self.size}x{self.size} "
                f"uint8 on disk, num_classes={self.num_classes})")

    def decode(self, index: int) -> torch.Tensor:
        """Image ``index`` as uint8 C x size x size; one that fails to decode gives the next readable one."""
        n = len(self.files)
        for step in range(n):
            i = (index + step) % n
            try:
                return resize_square(decode_image(self.files[i], self.channels), self.size, self.fit)
            except Exception as e:  # PIL's decoders raise many exception types on bad input
                if i not in self._warned:
                    self._warned.add(i)
                    print(f"{self.files[i].relative_to(self.root)} could not be decoded "
                          f"({why_unreadable(self.files[i], e)}); using the next image in its place", file=sys.stderr)
        raise GanforgeError(f"none of the {n} images in {self.root} can be decoded any more")

    def subset(self, indices: Sequence[int] | torch.Tensor | None = None) -> torch.Tensor:
        """uint8 images at ``indices`` (all when None), decoded now, as one N x C x H x W tensor."""
        order = range(len(self)) if indices is None else [int(i) for i in indices]
        out = torch.empty((len(order), *self.image_shape), dtype=torch.uint8)
        for row, i in enumerate(order):
            out[row] = self.decode(i)
        return out


def open_stream(listing: FolderListing, *, channels: int, size: int, fit: str,
                log: Callable[[str], None]) -> StreamingDataset:
    """The folder of ``listing`` as a stream, after a header check of every file."""
    root = listing.root
    kept: list[Path] = []
    labels: list[int] = []
    skipped = list(listing.problems)
    progress = tqdm(zip(listing.files, listing.labels), total=len(listing.files), desc="checking images",
                    unit="img", leave=False, file=sys.stderr, disable=None if len(listing.files) >= 2000 else True)
    for file, label in progress:
        try:
            with Image.open(file):  # the header: format and size, no pixels
                pass
        except Exception as e:
            skipped.append((file.relative_to(root), why_unreadable(file, e)))
            continue
        kept.append(file)
        labels.append(label)
    skipped.sort(key=lambda s: s[0].parts)
    report_skipped(skipped, root, log)
    if not kept:
        raise GanforgeError(f"none of the {len(listing.files)} image files in {root} could be read")
    return StreamingDataset(root, kept, torch.tensor(labels, dtype=torch.int64) if listing.class_names else None,
                            listing.class_names, channels=channels, size=size, fit=fit, skipped=len(skipped))
