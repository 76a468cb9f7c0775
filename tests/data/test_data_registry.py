"""The public API: names, descriptions, argument checks, conversion, cache folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge.data as data
from ganforge.data import ImageDataset, dataset_names, describe_datasets, load_dataset, user_cache_dir
from ganforge.data.convert import convert_images, luminance
from ganforge.errors import GanforgeError


def test_names_and_descriptions() -> None:
    assert dataset_names() == ["mnist", "fashion-mnist", "mnist-sample", "stacked-mnist", "folder:PATH"]
    described = describe_datasets()
    assert [name for name, _ in described] == dataset_names()
    assert all(text and "\n" not in text for _, text in described)
    assert set(data.__all__) == {"ImageDataset", "StreamingDataset", "FolderProbe", "probe_folder", "load_dataset",
                                 "dataset_names", "describe_datasets", "user_cache_dir"}


def test_unknown_name_message() -> None:
    with pytest.raises(GanforgeError) as info:
        load_dataset("xyz")
    assert str(info.value) == ("unknown dataset 'xyz'; choose one of: mnist, fashion-mnist, mnist-sample, "
                               "stacked-mnist, folder:PATH")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"split": "validation"}, "unknown split 'validation'; choose train or test"),
    ({"channels": 4}, "channels must be 1 or 3, got 4"),
    ({"channels": True}, "channels must be 1 or 3, got True"),
    ({"size": 0}, "size must be a positive whole number of pixels, got 0"),
    ({"size": 32.0}, "size must be a positive whole number of pixels, got 32.0"),
])
def test_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(GanforgeError) as info:
        load_dataset("mnist-sample", **kwargs)
    assert str(info.value) == message


def test_names_are_case_insensitive() -> None:
    assert load_dataset("MNIST-Sample").name == "mnist-sample"


def test_convert_sample_to_rgb_and_size() -> None:
    native = load_dataset("mnist-sample")
    big = load_dataset("mnist-sample", channels=3, size=32)
    assert big.images.shape == (5000, 3, 32, 32) and big.images.is_contiguous()
    assert torch.equal(big.images[:, 0], big.images[:, 2])  # grey repeated
    assert torch.equal(load_dataset("mnist-sample", channels=1).images, native.images)
    small = load_dataset("mnist-sample", size=14)
    assert small.images.shape == (5000, 1, 14, 14)
    assert abs(small.images.float().mean() - native.images.float().mean()) < 2  # antialiased: mass kept


def test_rgb_to_grey_matches_pil() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    expected = np.asarray(Image.fromarray(rgb).convert("L"))
    got = luminance(torch.from_numpy(rgb).permute(2, 0, 1))[0].numpy()
    assert np.array_equal(got, expected)


def test_convert_images_crop_and_order() -> None:
    images = torch.zeros(2, 3, 10, 30, dtype=torch.uint8)
    images[:, :, :, 10:20] = 255
    out = convert_images(images, 1, 10)
    assert out.shape == (2, 1, 10, 10) and out.min() == 255


def test_dataset_checks_and_repr() -> None:
    images = torch.zeros(2, 1, 4, 4, dtype=torch.uint8)
    dataset = ImageDataset("x", images, torch.tensor([0, 3]), None, "made up")
    assert dataset.num_classes == 4 and len(dataset) == 2
    assert repr(dataset) == "ImageDataset(name='x', images=2x1x4x4 uint8, num_classes=4, source='made up')"
    assert ImageDataset("y", torch.zeros(1, 3, 2, 2, dtype=torch.uint8), None, None, "").num_classes is None
    with pytest.raises(ValueError):
        ImageDataset("z", torch.zeros(2, 4, 4), None, None, "")
    with pytest.raises(ValueError):
        ImageDataset("z", torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.tensor([1]), None, "")


def test_user_cache_dir_precedence(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GANFORGE_CACHE_DIR", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert user_cache_dir() == tmp_path / "explicit"
    monkeypatch.setenv("GANFORGE_CACHE_DIR", "")
    assert user_cache_dir() == tmp_path / "xdg" / "ganforge"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert user_cache_dir() == tmp_path / "home" / ".cache" / "ganforge"
