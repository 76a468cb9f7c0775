"""IDX reading and writing."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import numpy as np
import pytest
from data_helpers import synthetic_digits, write_mnist_like

from ganforge.data.idx import IMAGES_MAGIC, LABELS_MAGIC, encode_idx, read_idx, write_idx
from ganforge.data.mnist import read_images_and_labels
from ganforge.errors import GanforgeError


@pytest.mark.parametrize("name", ["images.idx", "images.idx.gz"])
def test_round_trip(tmp_path: Path, name: str) -> None:
    images, labels = synthetic_digits(7)
    write_idx(tmp_path / name, images)
    write_idx(tmp_path / f"labels-{name}", labels)
    assert np.array_equal(read_idx(tmp_path / name, IMAGES_MAGIC), images)
    assert np.array_equal(read_idx(tmp_path / f"labels-{name}", LABELS_MAGIC), labels)


def test_gzip_detected_by_content_not_name(tmp_path: Path) -> None:
    images, _ = synthetic_digits(3)
    (tmp_path / "plain-name").write_bytes(gzip.compress(encode_idx(images)))
    assert np.array_equal(read_idx(tmp_path / "plain-name", IMAGES_MAGIC), images)


def test_header_layout_matches_mnist(tmp_path: Path) -> None:
    data = encode_idx(np.zeros((2, 28, 28), np.uint8))
    assert data[:16] == bytes.fromhex("00000803 00000002 0000001c 0000001c".replace(" ", ""))
    assert len(data) == 16 + 2 * 28 * 28


def test_bad_magic_names_the_file(tmp_path: Path) -> None:
    images, labels = synthetic_digits(3)
    write_idx(tmp_path / "labels.gz", labels)
    with pytest.raises(GanforgeError, match=r"labels\.gz is not an IDX image file: magic number 2049"):
        read_idx(tmp_path / "labels.gz", IMAGES_MAGIC)


@pytest.mark.parametrize("cut", [0, 2, 10, 16 + 28 * 28 * 3 - 1])
def test_truncated_file_names_the_file(tmp_path: Path, cut: int) -> None:
    images, _ = synthetic_digits(3)
    (tmp_path / "short-images").write_bytes(encode_idx(images)[:cut])
    with pytest.raises(GanforgeError, match="short-images") as info:
        read_idx(tmp_path / "short-images", IMAGES_MAGIC)
    assert "\n" not in str(info.value)


def test_trailing_bytes_are_an_error(tmp_path: Path) -> None:
    images, _ = synthetic_digits(2)
    (tmp_path / "long").write_bytes(encode_idx(images) + b"\0")
    with pytest.raises(GanforgeError, match="long is too long"):
        read_idx(tmp_path / "long", IMAGES_MAGIC)


def test_damaged_gzip_names_the_file(tmp_path: Path) -> None:
    images, _ = synthetic_digits(20)
    data = gzip.compress(encode_idx(images))
    (tmp_path / "cut.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(GanforgeError, match=r"cut\.gz: damaged gzip data"):
        read_idx(tmp_path / "cut.gz", IMAGES_MAGIC)


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(GanforgeError, match="nothing-here"):
        read_idx(tmp_path / "nothing-here", IMAGES_MAGIC)


def test_images_and_labels_must_match(tmp_path: Path) -> None:
    write_mnist_like(tmp_path, 5)
    write_idx(tmp_path / "few-labels", np.zeros(4, np.uint8))
    with pytest.raises(GanforgeError, match="has 4 labels but .* has 5 images"):
        read_images_and_labels(tmp_path / "train-images-idx3-ubyte.gz", tmp_path / "few-labels", 10)
    write_idx(tmp_path / "big-labels", np.full(5, 12, np.uint8))
    with pytest.raises(GanforgeError, match="big-labels has label 12"):
        read_images_and_labels(tmp_path / "train-images-idx3-ubyte.gz", tmp_path / "big-labels", 10)


def test_reads_60k_images_fast(tmp_path: Path) -> None:
    images = np.zeros((60000, 28, 28), np.uint8)
    write_idx(tmp_path / "big", images)
    start = time.perf_counter()
    assert read_idx(tmp_path / "big", IMAGES_MAGIC).shape == (60000, 28, 28)
    assert time.perf_counter() - start < 1.0
