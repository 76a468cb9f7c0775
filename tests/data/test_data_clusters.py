"""k-means clusters of the training images (``--clusters K``): found from the pixels alone, the same every time,
numbered from the largest, and refused in one line where they cannot be made."""

import pytest
import torch

from ganforge.data import ImageDataset, load_dataset
from ganforge.data.clusters import cluster_labels, kmeans, with_clusters
from ganforge.errors import GanforgeError


def blobs(sizes, dim=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    centres = torch.randn(len(sizes), dim, generator=gen) * 20
    x = torch.cat([c + torch.randn(n, dim, generator=gen) for c, n in zip(centres, sizes)])
    truth = torch.cat([torch.full((n,), i) for i, n in enumerate(sizes)])
    perm = torch.randperm(len(x), generator=gen)
    return x[perm], truth[perm]


def test_kmeans_finds_separated_blobs_and_numbers_them_from_the_largest():
    sizes = [30, 120, 60, 90]
    x, truth = blobs(sizes)
    labels = kmeans(x, 4)
    # each blob is one cluster, and cluster 0 is the largest blob (index 1), cluster 3 the smallest (index 0)
    assert [int(labels[truth == b].unique().numel()) for b in range(4)] == [1, 1, 1, 1]
    assert [int(labels[truth == b][0]) for b in range(4)] == [3, 0, 2, 1]
    assert torch.equal(labels, kmeans(x, 4))  # the same clusters every time


def test_images_are_clustered_at_16_pixels_whatever_their_size():
    dark, light = torch.zeros(10, 3, 64, 64, dtype=torch.uint8), torch.full((6, 3, 64, 64), 250, dtype=torch.uint8)
    labels = cluster_labels(torch.cat([dark, light]), 2)
    assert labels.tolist() == [0] * 10 + [1] * 6


def test_the_dataset_labels_are_replaced_and_never_used():
    data = load_dataset("mnist-sample", log=lambda _: None)
    lines: list[str] = []
    clustered = with_clusters(data, 6, log=lines.append)
    unlabelled = with_clusters(ImageDataset("x", data.images, None, None, "s"), 6, log=lambda _: None)
    assert torch.equal(clustered.labels, unlabelled.labels)  # the digits' labels play no part
    assert clustered.class_names == [f"cluster {i}" for i in range(6)] and clustered.num_classes == 6
    counts = torch.bincount(clustered.labels, minlength=6)
    assert (counts[:-1] >= counts[1:]).all() and counts.sum() == len(data)
    assert len(lines) == 1 and "6 clusters" in lines[0] and "not on the dataset labels" in lines[0]
    assert clustered.images is data.images


@pytest.mark.parametrize("k", [1, 5001])
def test_a_cluster_count_out_of_range_is_one_line(k):
    data = load_dataset("mnist-sample", log=lambda _: None)
    with pytest.raises(GanforgeError, match=rf"clusters must be from 2 to the number of images .*got {k}$"):
        with_clusters(data, k)
