"""A folder is decoded once: the cache is written, reused, and made again when the files or the shape change;
a folder over the memory budget streams instead. And how an image becomes a square (fit)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from PIL import Image

from ganforge.data import StreamingDataset, load_dataset, user_cache_dir
from ganforge.data import folder as folder_module
from ganforge.data.folder_cache import memory_budget
from ganforge.errors import GanforgeError
from helpers import shapes_folder


@pytest.fixture
def decodes(monkeypatch) -> list[Path]:
    """Every image file decoded, in order."""
    seen: list[Path] = []
    real = folder_module.decode_image

    def counting(path: Path, channels: int) -> torch.Tensor:
        seen.append(path)
        return real(path, channels)

    monkeypatch.setattr(folder_module, "decode_image", counting)
    return seen


def load(root: Path, **kw) -> tuple[object, list[str]]:
    lines: list[str] = []
    kw.setdefault("channels", 3)
    kw.setdefault("size", 16)
    return load_dataset(f"folder:{root}", log=lines.append, **kw), lines


def cache_files() -> list[Path]:
    return sorted((user_cache_dir() / "folders").glob("*.safetensors"))


def test_decoded_once_then_loaded_from_the_cache(tmp_path: Path, decodes: list[Path]) -> None:
    shapes_folder(tmp_path, 12, (24, 20), classes=("x", "y", "z"))
    first, lines = load(tmp_path)
    assert len(decodes) == 12 and len(cache_files()) == 1
    assert len(lines) == 1 and lines[0].startswith("decoded 12 images in ")
    assert lines[0].endswith("(cached for next time)")
    decodes.clear()
    again, lines = load(tmp_path)
    assert decodes == [] and len(lines) == 1 and lines[0].startswith("loaded 12 images from the cache in ")
    assert torch.equal(first.images, again.images) and torch.equal(first.labels, again.labels)
    assert (again.class_names, again.name, again.source) == (first.class_names, first.name, first.source)
    assert len(cache_files()) == 1 and not list((user_cache_dir() / "folders").glob(".*.tmp"))


def test_a_changed_file_or_another_shape_makes_a_new_cache(tmp_path: Path, decodes: list[Path]) -> None:
    shapes_folder(tmp_path, 6, (20, 20))
    base, _ = load(tmp_path)
    for kw in ({"channels": 1}, {"size": 12}, {"fit": "resize"}):  # another preprocessing
        decodes.clear()
        load(tmp_path, **kw)
        assert len(decodes) == 6, kw
    assert len(cache_files()) == 4
    decodes.clear()
    Image.new("RGB", (20, 20), (9, 9, 9)).save(tmp_path / "003.png")  # edited in place
    edited, lines = load(tmp_path)
    assert len(decodes) == 6 and lines[-1].endswith("(cached for next time)")
    assert edited.images[3].max() == 9 and not torch.equal(edited.images, base.images)
    decodes.clear()
    st = os.stat(tmp_path / "001.png")
    os.utime(tmp_path / "001.png", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched: decoded again
    load(tmp_path)
    assert len(decodes) == 6
    decodes.clear()
    (tmp_path / "005.png").unlink()  # one fewer
    fewer, _ = load(tmp_path)
    assert len(decodes) == 5 and len(fewer) == 5


def test_a_moved_folder_keeps_its_cache_and_its_new_name(tmp_path: Path, decodes: list[Path]) -> None:
    shapes_folder(tmp_path / "a", 4, (16, 16))
    load(tmp_path / "a")
    os.rename(tmp_path / "a", tmp_path / "b")
    decodes.clear()
    moved, lines = load(tmp_path / "b")
    assert decodes == [] and moved.name == f"folder:{tmp_path / 'b'}" and "loaded 4 images" in lines[-1]


def test_a_damaged_cache_file_is_decoded_again(tmp_path: Path, decodes: list[Path]) -> None:
    shapes_folder(tmp_path, 4, (16, 16))
    good, _ = load(tmp_path)
    [file] = cache_files()
    file.write_bytes(file.read_bytes()[:100])
    decodes.clear()
    again, lines = load(tmp_path)
    assert len(decodes) == 4 and "cannot be used" in lines[0] and torch.equal(again.images, good.images)
    decodes.clear()
    load(tmp_path)
    assert decodes == []  # rewritten


def test_skipped_files_are_named_again_from_the_cache(tmp_path: Path) -> None:
    shapes_folder(tmp_path, 3, (16, 16))
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    _, first = load(tmp_path)
    _, second = load(tmp_path)
    assert first[0] == second[0] and first[0].startswith("skipped broken.png: ")
    assert second[1].startswith("loaded 3 images from the cache")


def test_an_unwritable_cache_costs_only_the_next_decode(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GANFORGE_CACHE_DIR", str(tmp_path / "file"))
    (tmp_path / "file").write_text("a file where the cache folder would be")
    shapes_folder(tmp_path / "imgs", 3, (16, 16))
    dataset, lines = load(tmp_path / "imgs")
    assert len(dataset) == 3 and "(not cached: could not write" in lines[-1]


def test_over_the_memory_budget(tmp_path: Path, monkeypatch, decodes: list[Path]) -> None:
    shapes_folder(tmp_path, 8, (16, 16), classes=("p", "q"))
    monkeypatch.setenv("GANFORGE_MEMORY_BUDGET_MB", "0.002")  # 2 KB: fewer than 8 images of 3 x 16 x 16
    stream, lines = load(tmp_path, streaming=True)
    assert isinstance(stream, StreamingDataset) and decodes == [] and cache_files() == []
    assert "over the memory budget of 0.00 MB ($GANFORGE_MEMORY_BUDGET_MB): streaming them" in lines[-1]
    assert (len(stream), stream.image_shape, stream.class_names, stream.labels.tolist()) == (
        8, (3, 16, 16), ["p", "q"], [0, 0, 0, 0, 1, 1, 1, 1])
    whole, lines = load(tmp_path)  # a caller that needs every image at once
    assert "decoding them all in memory anyway" in lines[-1] and cache_files() == []
    assert torch.equal(stream.subset([5, 0, 7]), whole.images[[5, 0, 7]])
    assert torch.equal(stream.subset(), whole.images)


@pytest.mark.parametrize("value", ["lots", "0", "-5", "nan", "inf"])
def test_a_bad_budget_is_refused_naming_it(monkeypatch, value: str) -> None:
    monkeypatch.setenv("GANFORGE_MEMORY_BUDGET_MB", value)
    with pytest.raises(GanforgeError, match=rf"GANFORGE_MEMORY_BUDGET_MB must be a positive number of megabytes, "
                                            rf"got '{value}'"):
        memory_budget()


def test_the_default_budget_is_a_capped_quarter_of_memory(monkeypatch) -> None:
    monkeypatch.delenv("GANFORGE_MEMORY_BUDGET_MB", raising=False)
    ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert memory_budget() == min(ram // 4, 8 << 30)


# ---- fit: how an image becomes a square -----------------------------------------------------------------------

def test_crop_cuts_the_middle_and_resize_squeezes_the_whole(tmp_path: Path) -> None:
    # 60 x 20: a red left third, a white middle third, a blue right third
    image = Image.new("RGB", (60, 20), (255, 0, 0))
    image.paste((255, 255, 255), (20, 0, 40, 20))
    image.paste((0, 0, 255), (40, 0, 60, 20))
    image.save(tmp_path / "wide.png")
    crop, _ = load(tmp_path, size=20, fit="crop")
    assert crop.images.min() == 255  # only the white middle is left
    squeezed, _ = load(tmp_path, size=12, fit="resize")
    px = squeezed.images[0]
    assert px[:, 6, 0].tolist() == [255, 0, 0] and px[:, 6, 6].tolist() == [255, 255, 255]
    assert px[:, 6, 11].tolist() == [0, 0, 255]


def test_a_bad_fit_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(GanforgeError, match="fit must be one of crop, resize, got 'stretch'"):
        load_dataset(f"folder:{tmp_path}", fit="stretch")


def test_evaluation_reads_the_real_images_from_the_same_cache(tmp_path: Path, decodes: list[Path]) -> None:
    from ganforge.metrics.realdata import load_real, resize_name

    shapes_folder(tmp_path, 10, (24, 18))
    trained_on, _ = load(tmp_path, size=16, fit="resize")  # what a run with --fit resize trains on
    decodes.clear()
    lines: list[str] = []
    real = load_real(f"folder:{tmp_path}", "train", 4, shape=(3, 16, 16), fit="resize", log=lines.append)
    assert decodes == [] and lines[-1].startswith("loaded 10 images from the cache")
    assert real.images.shape == (4, 3, 16, 16) and "resized whole to 16x16" in real.description
    assert all(any(torch.equal(img, t) for t in trained_on.images) for img in real.images)
    assert resize_name("crop") != resize_name("resize")  # the stats cache keeps their features apart
