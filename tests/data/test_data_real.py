"""The real MNIST and Fashion-MNIST files, when shared/data holds them (skipped otherwise)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
import torch

from ganforge.data import download, load_dataset

EXPECTED = {
    ("mnist", "train"): ([5, 0, 4, 1, 9, 2, 1, 3, 1, 4],
                         [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]),
    ("mnist", "test"): ([7, 2, 1, 0, 4, 1, 4, 9, 5, 9],
                        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]),
    ("fashion-mnist", "train"): ([9, 0, 0, 3, 0, 2, 7, 2, 5, 5], [6000] * 10),
    ("fashion-mnist", "test"): ([9, 2, 1, 1, 6, 1, 4, 6, 5, 7], [1000] * 10),
}


@pytest.mark.parametrize(("name", "split"), list(EXPECTED))
def test_real_dataset(shared_data: Path, name: str, split: str) -> None:
    if not (shared_data / name).is_dir():
        pytest.skip(f"no {name} in {shared_data}")
    start = time.perf_counter()
    dataset = load_dataset(name, split=split, data_dir=shared_data, log=print)
    seconds = time.perf_counter() - start
    first, counts = EXPECTED[name, split]
    assert dataset.name == name
    assert dataset.images.shape == (sum(counts), 1, 28, 28) and dataset.images.dtype == torch.uint8
    assert dataset.labels[:10].tolist() == first
    assert torch.bincount(dataset.labels).tolist() == counts
    assert seconds < 3.0  # about 0.6 s for 60,000 on one core; generous for a busy machine


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_md5_table_matches_real_files(shared_data: Path, name: str) -> None:
    if not (shared_data / name).is_dir():
        pytest.skip(f"no {name} in {shared_data}")
    for file, expected in download.MD5S[name].items():
        assert hashlib.md5((shared_data / name / file).read_bytes()).hexdigest() == expected, file


def test_real_stacked_mnist(shared_data: Path) -> None:
    dataset = load_dataset("stacked-mnist", split="test", data_dir=shared_data, log=print)
    assert dataset.images.shape == (10000, 3, 28, 28) and dataset.num_classes == 1000
    assert len(dataset.labels.unique()) > 990  # 10,000 draws over 1,000 modes leave almost none out
