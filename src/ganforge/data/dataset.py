"""The in-memory dataset every loader returns."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch


@dataclass
class ImageDataset:
    """A whole dataset held as one tensor.

    ``images`` is uint8, N x C x H x W, on the CPU and contiguous; ``labels`` is int64 of length N or None.
    """

    name: str
    images: torch.Tensor
    labels: torch.Tensor | None
    class_names: list[str] | None
    source: str

    def __post_init__(self) -> None:
        # Catch loader bugs here rather than as shape errors deep inside training.
        images, labels = self.images, self.labels
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(f"images must be uint8 N x C x H x W, got {images.dtype} {tuple(images.shape)}")
        if labels is not None and (labels.dtype != torch.int64 or labels.shape != images.shape[:1]):
            raise ValueError(f"labels must be int64 of length {len(images)}, got {labels.dtype} "
                             f"{tuple(labels.shape)}")

    @property
    def num_classes(self) -> int | None:
        if self.class_names is not None:
            return len(self.class_names)
        if self.labels is not None and len(self.labels):
            return int(self.labels.max()) + 1
        return None

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """C, H, W of every image."""
        c, h, w = self.images.shape[1:]
        return (int(c), int(h), int(w))

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, indices: Sequence[int] | torch.Tensor | None = None) -> torch.Tensor:
        """The uint8 images at ``indices`` (all when None), as a streaming dataset gives them."""
        return self.images if indices is None else self.images[torch.as_tensor(indices, dtype=torch.int64)]

    def __repr__(self) -> str:
        # The default dataclass repr would print tensor contents.
        n, c, h, w = self.images.shape
        return (f"ImageDataset(name={self.name!r}, images={n}x{c}x{h}x{w} uint8, "
                f"num_classes={self.num_classes}, source={self.source!r})")


@dataclass(frozen=True)
class LoadRequest:
    """What a registered loader is asked for (``load_dataset``'s arguments less the conversion)."""

    split: str
    data_dir: str | os.PathLike[str] | None
    download: bool
    log: Callable[[str], None]
