"""Batches for the training loop, by index: from one uint8 tensor on the device, or decoded from disk by
worker processes for a folder too big for memory. Both give the same batches for the same seed and index.

The order of epoch ``e`` is a permutation seeded by (seed, e), so the batch for any step is a pure function
of the step: nothing to save, and a resume sees exactly the batches it would have. The last incomplete
batch of an epoch is dropped so every step has the same shape. With ``mirror``, the dataset is 2N images:
index i >= N is image i - N flipped left to right (as StyleGAN2-ADA's ``--mirror``), flipped where the batch
is made rather than stored twice.

The loop's interface is ``labelled_batch(index)`` -> (float images in [-1, 1] on the device, int64 labels
or None), ``per_epoch`` and ``close()``. ``make_sampler`` picks the kind from the dataset object.
"""

from __future__ import annotations

import itertools
import os
import signal
from collections.abc import Iterator
from typing import Any

import torch

from ..data import ImageDataset, StreamingDataset

SEED_STRIDE = 1_000_003  # epoch e of seed s is permuted with the seed s * SEED_STRIDE + e


class _Order:
    """Which dataset indices make batch ``index`` for process ``rank`` of ``world`` (the shuffling only)."""

    def __init__(self, count: int, batch_size: int, seed: int, *, mirror: bool, rank: int, world: int,
                 device: torch.device | str = "cpu") -> None:
        self.count, self.batch_size, self.seed, self.mirror, self.device = count, batch_size, seed, mirror, device
        self.size = count * (2 if mirror else 1)  # images in an epoch
        # Data-parallel: process ``rank`` of ``world`` takes its slice of every global batch.
        self.rank, self.world = rank, world
        self.per_epoch = self.size // batch_size
        self._epoch, self._perm = -1, torch.empty(0, dtype=torch.int64)

    def positions(self, index: int) -> torch.Tensor:
        """int64 indices into the (mirrored) epoch of this process's part of batch ``index``, on ``device``."""
        epoch, pos = divmod(index, self.per_epoch)
        if epoch != self._epoch:  # drawn on the CPU, so every device gets the same order; moved once an epoch
            gen = torch.Generator().manual_seed(self.seed * SEED_STRIDE + epoch)
            self._perm = torch.randperm(self.size, generator=gen).to(self.device)
            self._epoch = epoch
        idx = self._perm[pos * self.batch_size:(pos + 1) * self.batch_size]
        if self.world > 1:
            local = self.batch_size // self.world
            idx = idx[self.rank * local:(self.rank + 1) * local]
        return idx


def _to_unit(images: torch.Tensor) -> torch.Tensor:
    return images.float().div_(127.5).sub_(1.0)  # uint8 [0, 255] -> float [-1, 1]


class BatchSampler:
    """Shuffled batches by index from one uint8 tensor on the device (see the module docstring).

    With ``labels`` (int64, on the same device), ``labelled_batch`` gives each batch's labels too.
    """

    def __init__(self, images: torch.Tensor, batch_size: int, seed: int, labels: torch.Tensor | None = None, *,
                 rank: int = 0, world: int = 1, mirror: bool = False) -> None:
        self.images, self.batch_size, self.seed, self.labels = images, batch_size, seed, labels
        self.order = _Order(images.shape[0], batch_size, seed, mirror=mirror, rank=rank, world=world,
                            device=images.device)
        self.per_epoch = self.order.per_epoch

    def batch(self, index: int) -> torch.Tensor:
        return self.labelled_batch(index)[0]

    def labelled_batch(self, index: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(images, labels) of batch ``index``; labels are None when the sampler has none."""
        idx, n = self.order.positions(index), self.images.shape[0]
        source = idx.remainder(n) if self.order.mirror else idx
        labels = None if self.labels is None else self.labels.index_select(0, source)
        images = self.images.index_select(0, source)
        if self.order.mirror:
            images = torch.where((idx >= n).view(-1, 1, 1, 1), images.flip(-1), images)
        return _to_unit(images), labels

    def close(self) -> None:
        """Nothing to release (the interface of the streaming sampler)."""


class _Batches(torch.utils.data.Dataset):
    """What a worker process makes: the uint8 images (and labels) of this process's part of batch ``index``."""

    def __init__(self, dataset: StreamingDataset, order: _Order, labelled: bool) -> None:
        self.dataset, self.order, self.labelled = dataset, order, labelled

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        n = len(self.dataset)
        idx = self.order.positions(index)
        images = torch.empty((len(idx), *self.dataset.image_shape), dtype=torch.uint8)
        for row, i in enumerate(idx.tolist()):
            image = self.dataset.decode(i % n)
            images[row] = image.flip(-1) if i >= n else image
        labels = self.dataset.labels[idx.remainder(n)] if self.labelled and self.dataset.labels is not None else None
        return images, labels


class _CountFrom(torch.utils.data.Sampler):
    """Batch indices ``start``, ``start + 1``, ... without end: the loop stops asking when the run ends."""

    def __init__(self, start: int) -> None:
        self.start = start

    def __iter__(self) -> Iterator[int]:
        return itertools.count(self.start)


def _worker_init(_: int) -> None:
    # The main process decides when training stops (it checkpoints first) and then shuts the workers down;
    # a SIGTERM or Ctrl-C sent to the whole process group must not kill a worker under it, which the
    # DataLoader would report as a crash of the run.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def default_workers() -> int:
    """Worker processes for a streamed folder: half the cores, at least 2 and at most 8."""
    return min(8, max(2, (os.cpu_count() or 2) // 2))


class StreamingSampler:
    """The batches of :class:`BatchSampler` for a dataset decoded from disk by worker processes.

    Indices are best asked for in order (the workers decode ahead); any other index restarts them there,
    which is what a resume does. ``close()`` shuts the workers down; the next batch starts them again.
    """

    def __init__(self, dataset: StreamingDataset, batch_size: int, seed: int, *, device: torch.device,
                 labelled: bool, rank: int = 0, world: int = 1, mirror: bool = False,
                 workers: int | None = None) -> None:
        self.dataset, self.device, self.labelled = dataset, torch.device(device), labelled
        self.batch_size, self.seed = batch_size, seed
        self.order = _Order(len(dataset), batch_size, seed, mirror=mirror, rank=rank, world=world)
        self.per_epoch = self.order.per_epoch
        self.workers = default_workers() if workers is None else workers
        self._iter: Any = None
        self._next = -1  # the index the workers will deliver next

    def batch(self, index: int) -> torch.Tensor:
        return self.labelled_batch(index)[0]

    def labelled_batch(self, index: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self._iter is None or index != self._next:
            self._start(index)
        images, labels = next(self._iter)
        self._next = index + 1
        images = _to_unit(images.to(self.device, non_blocking=True))
        return images, None if labels is None else labels.to(self.device, non_blocking=True)

    def _start(self, index: int) -> None:
        self.close()
        loader = torch.utils.data.DataLoader(
            _Batches(self.dataset, self.order, self.labelled), batch_size=None, sampler=_CountFrom(index),
            num_workers=self.workers, worker_init_fn=_worker_init if self.workers else None,
            pin_memory=self.device.type == "cuda", prefetch_factor=4 if self.workers else None)
        self._iter = iter(loader)

    def close(self) -> None:
        """Stop the worker processes and wait for them (the end of training, a SIGTERM, a restart)."""
        it, self._iter = self._iter, None
        if it is not None and hasattr(it, "_shutdown_workers"):
            it._shutdown_workers()  # joins them now, rather than whenever the iterator is collected
        self._next = -1


Sampler = BatchSampler | StreamingSampler


def make_sampler(dataset: ImageDataset | StreamingDataset, batch_size: int, seed: int, *, device: torch.device,
                 labelled: bool, rank: int = 0, world: int = 1, mirror: bool = False) -> Sampler:
    """The sampler for ``dataset``: in memory on ``device``, or streamed from disk."""
    if isinstance(dataset, StreamingDataset):
        return StreamingSampler(dataset, batch_size, seed, device=device, labelled=labelled, rank=rank, world=world,
                                mirror=mirror)
    labels = dataset.labels.to(device) if labelled and dataset.labels is not None else None
    return BatchSampler(dataset.images.to(device), batch_size, seed, labels, rank=rank, world=world, mirror=mirror)
