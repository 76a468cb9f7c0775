"""Stacked MNIST: three digits as the R, G, B channels."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from data_helpers import write_mnist_like

from ganforge.data import load_dataset
from ganforge.data.mnist import sample_dataset, stack_digits
from ganforge.errors import GanforgeError


@pytest.fixture(scope="module")
def sample():
    return sample_dataset()


def test_shape_and_classes(sample) -> None:
    stacked = stack_digits(sample, seed=0)
    assert stacked.images.shape == (5000, 3, 28, 28) and stacked.images.dtype == torch.uint8
    assert stacked.images.is_contiguous() and stacked.labels.dtype == torch.int64
    assert stacked.num_classes == 1000 and stacked.class_names[7] == "007"
    assert 0 <= int(stacked.labels.min()) and int(stacked.labels.max()) <= 999


def test_labels_decode_to_the_digits_in_each_channel(sample) -> None:
    label_of = {bytes(img.numpy()): int(lab) for img, lab in zip(sample.images[:, 0], sample.labels)}
    stacked = stack_digits(sample, seed=0)
    for image, label in zip(stacked.images[:200], stacked.labels[:200]):
        digits = [label_of[bytes(image[c].numpy())] for c in range(3)]
        assert int(label) == 100 * digits[0] + 10 * digits[1] + digits[2]


def test_deterministic_and_seeded(sample) -> None:
    a, b, c = stack_digits(sample, seed=0), stack_digits(sample, seed=0), stack_digits(sample, seed=1)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.labels, c.labels)


def test_loads_from_mnist_split(tmp_path: Path) -> None:
    write_mnist_like(tmp_path / "mnist", 30, 12)
    train = load_dataset("stacked-mnist", data_dir=tmp_path, log=print)
    test = load_dataset("stacked-mnist", split="test", data_dir=tmp_path, log=print)
    assert train.images.shape == (30, 3, 28, 28) and test.images.shape == (12, 3, 28, 28)
    assert torch.equal(train.images, load_dataset("stacked-mnist", data_dir=tmp_path).images)


def test_falls_back_to_sample_with_one_line(monkeypatch) -> None:
    monkeypatch.setenv("GANFORGE_OFFLINE", "1")
    lines: list[str] = []
    stacked = load_dataset("stacked-mnist", log=lines.append)
    assert stacked.name == "stacked-mnist" and stacked.images.shape == (5000, 3, 28, 28)
    assert "mnist-sample" in stacked.source
    assert len(lines) == 1 and "building stacked-mnist from mnist-sample" in lines[0]
    with pytest.raises(GanforgeError, match="no 'test' split"):
        load_dataset("stacked-mnist", split="test", log=lines.append)


def test_needs_labelled_grey_digits(sample) -> None:
    with pytest.raises(GanforgeError, match="single-channel"):
        stack_digits(stack_digits(sample, seed=0), seed=0)
