"""Batches for the training loop: shuffled by index from one uint8 tensor on the device."""

from __future__ import annotations

import torch


class BatchSampler:
    """Shuffled batches by index from one uint8 tensor on the device.

    The order of epoch ``e`` is a permutation seeded by (seed, e), so the batch for any step is a
    pure function of the step: nothing to save, and a resume sees exactly the batches it would have.
    The last incomplete batch of an epoch is dropped so every step has the same shape.
    With ``labels`` (int64, on the same device), ``labelled_batch`` gives each batch's labels too.
    """

    def __init__(self, images: torch.Tensor, batch_size: int, seed: int,
                 labels: torch.Tensor | None = None, *, rank: int = 0, world: int = 1) -> None:
        self.images, self.batch_size, self.seed, self.labels = images, batch_size, seed, labels
        # Data-parallel: process ``rank`` of ``world`` takes its slice of every global batch.
        self.rank, self.world = rank, world
        self.per_epoch = images.shape[0] // batch_size
        self._epoch, self._perm = -1, torch.empty(0)

    def batch(self, index: int) -> torch.Tensor:
        return self.labelled_batch(index)[0]

    def labelled_batch(self, index: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(images, labels) of batch ``index``; labels are None when the sampler has none."""
        epoch, pos = divmod(index, self.per_epoch)
        if epoch != self._epoch:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm = torch.randperm(self.images.shape[0], generator=gen).to(self.images.device)
            self._epoch = epoch
        idx = self._perm[pos * self.batch_size:(pos + 1) * self.batch_size]
        if self.world > 1:
            local = self.batch_size // self.world
            idx = idx[self.rank * local:(self.rank + 1) * local]
        labels = None if self.labels is None else self.labels.index_select(0, idx)
        # uint8 [0, 255] -> float [-1, 1] on the device
        return self.images.index_select(0, idx).float().div_(127.5).sub_(1.0), labels
