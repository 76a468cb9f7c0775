"""folder:PATH datasets built from image files on disk."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.data import load_dataset
from ganforge.data.folder import EXTENSIONS
from ganforge.errors import GanforgeError


def save(path: Path, image: Image.Image, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **kwargs)
    return path


def file_notices(lines: list[str]) -> list[str]:
    """The log lines about the folder's files: all but the cache's "decoded N images" line."""
    return [line for line in lines if not line.startswith(("decoded ", "loaded "))]


def palette_image(size: tuple[int, int]) -> Image.Image:
    image = Image.new("P", size, 0)
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.paste(1, (0, 0, size[0] // 2, size[1]))
    return image


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """Two classes, mixed formats, modes and sizes, plus files that must be skipped or ignored."""
    root = tmp_path / "pictures"
    save(root / "cats" / "a.png", Image.new("RGB", (40, 30), (200, 10, 10)))
    save(root / "cats" / "b.JPG", Image.new("L", (20, 50), 128), format="JPEG")
    save(root / "cats" / "deeper" / "c.webp", Image.new("RGB", (33, 33), (0, 90, 0)))
    save(root / "dogs" / "d.png", Image.new("RGBA", (32, 32), (255, 0, 0, 0)))  # fully transparent red
    save(root / "dogs" / "e.gif", palette_image((16, 24)))
    save(root / "dogs" / "f.bmp", Image.new("RGB", (8, 8), (1, 2, 3)))
    save(root / "dogs" / "g.tiff", Image.fromarray(np.full((10, 12), 65535, np.uint16)))
    (root / "dogs" / "notes.txt").write_text("not an image")
    (root / "dogs" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    (root / "dogs" / "empty.jpg").write_bytes(b"")
    whole = (root / "cats" / "a.png").read_bytes()
    (root / "dogs" / "truncated.png").write_bytes(whole[: len(whole) // 2])
    save(root / ".hidden.png", Image.new("RGB", (4, 4)))  # dot-files are ignored
    return root


def test_nested_classes_mixed_images(tree: Path) -> None:
    lines: list[str] = []
    dataset = load_dataset(f"folder:{tree}", channels=3, size=16, log=lines.append)
    lines = file_notices(lines)
    assert dataset.name == f"folder:{tree}"
    assert dataset.images.shape == (7, 3, 16, 16) and dataset.images.dtype == torch.uint8
    assert dataset.images.is_contiguous()
    assert dataset.class_names == ["cats", "dogs"] and dataset.num_classes == 2
    assert dataset.labels.tolist() == [0, 0, 0, 1, 1, 1, 1]  # a.png, b.JPG, deeper/c.webp, d, e, f, g
    assert [line.split(":")[0] for line in lines] == [
        "skipped dogs/corrupt.png", "skipped dogs/empty.jpg", "skipped dogs/truncated.png"]
    assert lines[1] == "skipped dogs/empty.jpg: empty file (0 bytes)"
    assert "truncated" in lines[2]
    assert "3 unreadable skipped" in dataset.source
    images = dataset.images
    assert images[0, :, 8, 8].tolist() == [200, 10, 10]
    assert (images[1] - 128).abs().max() <= 2  # JPEG grey, repeated to 3 channels
    assert images[3].min() == 255  # transparent pixels become white
    assert images[4, :, 8, 2].tolist() == [0, 0, 255] and images[4, :, 8, 13].tolist() == [255, 0, 0]
    assert images[6].min() == 255  # 16-bit white stays white


def test_grey_and_default_shape(tree: Path) -> None:
    grey = load_dataset(f"folder:{tree}", channels=1, size=20, log=lambda _: None)
    assert grey.images.shape == (7, 1, 20, 20)
    assert abs(int(grey.images[0, 0, 10, 10]) - round(0.299 * 200 + 0.587 * 10 + 0.114 * 10)) <= 1
    default = load_dataset(f"folder:{tree}", log=lambda _: None)
    assert default.images.shape == (7, 3, 64, 64)


def test_center_crop_of_a_wide_image(tmp_path: Path) -> None:
    image = Image.new("L", (60, 20), 0)
    image.paste(255, (20, 0, 40, 20))  # only the middle third is white
    save(tmp_path / "wide.png", image)
    dataset = load_dataset(f"folder:{tmp_path}", channels=1, size=20)
    assert dataset.images.min() == 255 and dataset.labels is None and dataset.class_names is None


def test_loose_images_mean_no_labels(tmp_path: Path) -> None:
    save(tmp_path / "top.png", Image.new("RGB", (8, 8)))
    save(tmp_path / "cls" / "inner.png", Image.new("RGB", (8, 8)))
    lines: list[str] = []
    dataset = load_dataset(f"folder:{tmp_path}", size=8, log=lines.append)
    lines = file_notices(lines)
    assert len(dataset) == 2 and dataset.labels is None
    assert len(lines) == 1 and "no class labels" in lines[0]


def test_many_unreadable_files_named_then_counted(tmp_path: Path) -> None:
    save(tmp_path / "good.png", Image.new("RGB", (8, 8)))
    for i in range(25):
        (tmp_path / f"bad{i:02d}.png").write_bytes(b"nope")
    lines: list[str] = []
    assert len(load_dataset(f"folder:{tmp_path}", size=8, log=lines.append)) == 1
    lines = file_notices(lines)
    assert len(lines) == 21 and lines[0].startswith("skipped bad00.png")
    assert lines[-1].startswith("skipped 5 more unreadable files")


def test_symlink_loop_is_read_once(tmp_path: Path) -> None:
    save(tmp_path / "a" / "x.png", Image.new("RGB", (8, 8)))
    os.symlink(tmp_path, tmp_path / "a" / "loop")
    os.symlink(tmp_path / "a" / "x.png", tmp_path / "a" / "link.png")  # a link to a file is followed
    os.symlink(tmp_path / "gone.png", tmp_path / "a" / "broken.png")  # a broken one is reported
    lines: list[str] = []
    dataset = load_dataset(f"folder:{tmp_path}", size=8, log=lines.append)
    lines = file_notices(lines)
    assert len(dataset) == 2 and dataset.class_names == ["a"]
    assert len(lines) == 1 and lines[0].startswith("skipped a/broken.png")


def test_empty_folder_lists_extensions(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("hi")
    with pytest.raises(GanforgeError, match=f"no image files in {tmp_path}; accepted extensions: .bmp") as e:
        load_dataset(f"folder:{tmp_path}")
    assert all(ext in str(e.value) for ext in EXTENSIONS)


def test_missing_folder_and_file_instead_of_folder(tmp_path: Path) -> None:
    with pytest.raises(GanforgeError, match=f"image folder not found: {tmp_path / 'nope'}"):
        load_dataset(f"folder:{tmp_path / 'nope'}")
    (tmp_path / "file.png").write_bytes(b"")
    with pytest.raises(GanforgeError, match="not a folder"):
        load_dataset(f"folder:{tmp_path / 'file.png'}")
    with pytest.raises(GanforgeError, match="needs a path"):
        load_dataset("folder:")


def test_nothing_readable_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"")
    lines: list[str] = []
    with pytest.raises(GanforgeError, match="none of the 1 image files"):
        load_dataset(f"folder:{tmp_path}", log=lines.append)
    assert lines == ["skipped a.png: empty file (0 bytes)"]


def test_folder_has_no_test_split(tmp_path: Path) -> None:
    with pytest.raises(GanforgeError, match="only a 'train' split, got split='test'"):
        load_dataset(f"folder:{tmp_path}", split="test")
