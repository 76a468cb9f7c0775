"""Clusters found in the training images without their labels, for self-conditioned GANs (``--clusters K``).

Liu et al. 2020 ("Diverse Image Generation via Self-Conditioned GANs") condition G and D on clusters of the
real data instead of class labels: each cluster is a simpler distribution than the whole, which sharpens
samples and keeps modes from being dropped, and no label is used, so the model stays unconditional.

The clusters here are k-means (k-means++ start, Lloyd iterations) on the images shrunk to 16x16, so a
64x64 colour folder clusters as cheaply as MNIST. The result depends on the images alone (a fixed seed),
so a run that resumes finds the same clusters. Clusters are numbered from the largest down.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ganforge.data.dataset import ImageDataset
from ganforge.errors import GanforgeError

SIDE = 16  # images are compared at 16x16: enough to tell digits, icons or faces' layouts apart, and cheap
MAX_ITERATIONS = 100
SEED = 0  # the clusters are a property of the data, not of a run's seed


def kmeans(x: torch.Tensor, k: int, *, seed: int = SEED, iterations: int = MAX_ITERATIONS) -> torch.Tensor:
    """Cluster indices (int64, length N) of the rows of ``x`` (float, N x D), numbered from the largest cluster."""
    gen = torch.Generator().manual_seed(seed)
    norms = (x * x).sum(1)

    def sq_dist(centres: torch.Tensor) -> torch.Tensor:  # N x k squared distances, one matmul
        return (norms[:, None] - 2 * x @ centres.T + (centres * centres).sum(1)[None, :]).clamp_min_(0)

    # k-means++: each new centre drawn in proportion to its squared distance from the nearest one so far
    centres = x[torch.randint(len(x), (1,), generator=gen)]
    nearest = sq_dist(centres)[:, 0]
    for _ in range(1, k):
        weights = nearest if float(nearest.sum()) > 0 else torch.ones_like(nearest)
        pick = x[torch.multinomial(weights, 1, generator=gen)]
        centres = torch.cat([centres, pick])
        nearest = torch.minimum(nearest, sq_dist(pick)[:, 0])

    labels = sq_dist(centres).argmin(1)
    for _ in range(iterations):
        counts = torch.bincount(labels, minlength=k)
        sums = torch.zeros_like(centres).index_add_(0, labels, x)
        filled = counts > 0  # an emptied cluster keeps its old centre
        centres[filled] = sums[filled] / counts[filled, None].to(x.dtype)
        new = sq_dist(centres).argmin(1)
        if torch.equal(new, labels):
            break
        labels = new
    order = torch.argsort(torch.bincount(labels, minlength=k), descending=True, stable=True)
    return torch.argsort(order)[labels]


def cluster_labels(images: torch.Tensor, k: int) -> torch.Tensor:
    """k-means cluster indices of uint8 N x C x H x W images, compared at 16x16."""
    x = images.float().div_(255)
    if x.shape[-1] > SIDE:
        x = F.adaptive_avg_pool2d(x, SIDE)
    return kmeans(x.flatten(1), k)


def with_clusters(dataset: ImageDataset, k: int, log: Callable[[str], None] = print) -> ImageDataset:
    """``dataset`` with its labels (if any) replaced by ``k`` k-means clusters of its images; says so in one line."""
    if not isinstance(dataset, ImageDataset):
        raise GanforgeError(f"clusters {k}: dataset '{dataset.name}' is streamed from disk, and clustering needs its "
                            "images in memory; use a smaller folder, a lower --resolution, or no --clusters")
    if not 2 <= k <= len(dataset):
        raise GanforgeError(f"clusters must be from 2 to the number of images ({len(dataset):,} in "
                            f"'{dataset.name}'), got {k}")
    labels = cluster_labels(dataset.images, k)
    shares = torch.bincount(labels, minlength=k).double() / len(labels)
    log(f"clusters: k-means found {k} clusters in the {len(dataset):,} images of {dataset.name} (largest "
        f"{shares[0]:.1%}, smallest {shares[-1]:.1%}); G and D are conditioned on them"
        f"{', not on the dataset labels' if dataset.labels is not None else ''}")
    return ImageDataset(dataset.name, dataset.images, labels, [f"cluster {i}" for i in range(k)], dataset.source)
