"""The 5,000 MNIST digits shipped inside the package."""

from __future__ import annotations

import hashlib
import re

import pytest
import torch

from ganforge.data import load_dataset
from ganforge.data.mnist import SAMPLE_DIR
from ganforge.errors import GanforgeError


def test_sample_shape_labels_and_looks() -> None:
    dataset = load_dataset("mnist-sample")
    assert dataset.name == "mnist-sample" and dataset.images.dtype == torch.uint8
    assert dataset.images.shape == (5000, 1, 28, 28) and dataset.images.is_contiguous()
    assert torch.bincount(dataset.labels).tolist() == [500] * 10
    assert dataset.labels[:10].tolist() == list(range(10))  # classes interleave
    assert 25 < dataset.images.float().mean() < 45  # MNIST's mean pixel is about 33
    assert (dataset.images[:, :, 0, :] == 0).float().mean() > 0.95  # digits are centred: empty top rows
    assert dataset.images.max() == 255


def test_notice_lists_the_shipped_files_sha256() -> None:
    notice = (SAMPLE_DIR / "NOTICE.md").read_text()
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        listed = re.search(rf"\| {re.escape(name)} \| [\d,]+ \| ([0-9a-f]{{64}}) \|", notice).group(1)
        assert hashlib.sha256((SAMPLE_DIR / name).read_bytes()).hexdigest() == listed
    for words in ("BSD", "Sebastian Raschka", "CC BY-SA 3.0", "LeCun", "Cortes", "Burges"):
        assert words in notice


def test_sample_has_no_test_split() -> None:
    with pytest.raises(GanforgeError, match="mnist-sample has only a 'train' split"):
        load_dataset("mnist-sample", split="test")
