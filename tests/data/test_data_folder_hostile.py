"""folder:PATH with hostile content: each kind of bad entry gets its documented behaviour, reported by name.

Tests run as root, who can read any file, so "no permission" is simulated by monkeypatching the opener.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import ganforge.data.folder as folder
from ganforge.cli import main
from ganforge.data import load_dataset
from ganforge.errors import GanforgeError


def save(path: Path, image: Image.Image, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **kwargs)
    return path


def load(root: Path, lines: list[str], **kw):
    """The folder's dataset, with the notices about its files in ``lines`` (the cache's line left out)."""
    def log(line: str) -> None:
        if not line.startswith(("decoded ", "loaded ")):
            lines.append(line)

    return load_dataset(f"folder:{root}", channels=kw.pop("channels", 3), size=kw.pop("size", 8), log=log)


@pytest.fixture
def never_open(monkeypatch):
    """Fail the test, instead of hanging it, if the loader ever opens one of the given paths."""
    forbidden: set[Path] = set()
    real_open = folder.Image.open

    def open_(path, *a, **k):
        assert Path(path) not in forbidden, f"{path} was opened"
        return real_open(path, *a, **k)

    monkeypatch.setattr(folder.Image, "open", open_)
    return forbidden


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_and_device_named_like_images_are_reported_not_opened(tmp_path, never_open):
    save(tmp_path / "good.png", Image.new("RGB", (8, 8), (9, 9, 9)))
    os.mkfifo(tmp_path / "pipe.png")  # opening it would wait for a writer forever
    os.symlink("/dev/zero", tmp_path / "zero.png")  # reading it would never end
    never_open.update({tmp_path / "pipe.png", tmp_path / "zero.png"})
    lines: list[str] = []
    dataset = load(tmp_path, lines)
    assert len(dataset) == 1 and dataset.images[0, :, 4, 4].tolist() == [9, 9, 9]
    assert lines == ["skipped pipe.png: not a regular file (a FIFO, socket or device); not opened",
                     "skipped zero.png: not a regular file (a FIFO, socket or device); not opened"]
    assert "2 unreadable skipped" in dataset.source


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_only_unreadable_entries_is_a_one_line_error(tmp_path, never_open, capsys):
    os.mkfifo(tmp_path / "pipe.png")
    never_open.add(tmp_path / "pipe.png")
    lines: list[str] = []
    with pytest.raises(GanforgeError, match=f"no readable image in {tmp_path}: 1 entries skipped"):
        load(tmp_path, lines)
    assert lines == ["skipped pipe.png: not a regular file (a FIFO, socket or device); not opened"]
    assert main(["train", "--dataset", f"folder:{tmp_path}", "--steps", "1", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no readable image" in err and "Traceback" not in err


def test_a_folder_named_like_an_image_is_a_folder(tmp_path):
    save(tmp_path / "a.png", Image.new("RGB", (8, 8)))
    save(tmp_path / "b.png" / "inner.png", Image.new("RGB", (8, 8)))
    lines: list[str] = []
    assert len(load(tmp_path, lines)) == 2
    assert not [line for line in lines if line.startswith("skipped")]


def test_unreadable_file_and_folder_are_reported_by_name(tmp_path, monkeypatch):
    save(tmp_path / "ok.png", Image.new("RGB", (8, 8)))
    save(tmp_path / "secret.png", Image.new("RGB", (8, 8)))
    save(tmp_path / "locked" / "x.png", Image.new("RGB", (8, 8)))
    real_open, real_scandir = folder.Image.open, os.scandir

    def image_open(path, *a, **k):
        if Path(path).name == "secret.png":
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *a, **k)

    def scandir(path):
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(folder.Image, "open", image_open)
    monkeypatch.setattr(folder.os, "scandir", scandir)
    lines: list[str] = []
    dataset = load(tmp_path, lines)
    assert len(dataset) == 1
    assert lines == ["skipped locked: folder cannot be read (Permission denied)",
                     "skipped secret.png: Permission denied"]


def test_unreadable_root_is_an_error(tmp_path, monkeypatch):
    def scandir(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(folder.os, "scandir", scandir)
    with pytest.raises(GanforgeError, match=f"image folder {tmp_path}: folder cannot be read \\(Permission denied\\)"):
        load(tmp_path, [])


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width x height pixels but holds a few bytes: a decompression bomb's header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _truncated(image: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt)
    return buf.getvalue()[: len(buf.getvalue()) * 2 // 3]


def test_bombs_truncations_and_impostors_are_skipped_by_name(tmp_path):
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    save(tmp_path / "good.jpg", noise, format="JPEG")
    (tmp_path / "bomb.png").write_bytes(_png_header_only(30000, 30000))
    (tmp_path / "cut.jpg").write_bytes(_truncated(noise, "JPEG"))
    (tmp_path / "cut.gif").write_bytes(_truncated(noise, "GIF"))
    (tmp_path / "script.png").write_bytes(b"#!/bin/sh\necho not an image\n")
    (tmp_path / "zero.webp").write_bytes(b"")
    (tmp_path / "new\nline.png").write_bytes(b"junk")
    lines: list[str] = []
    dataset = load(tmp_path, lines)
    assert len(dataset) == 1
    by_name = {line.split(":")[0].removeprefix("skipped "): line for line in lines}
    assert set(by_name) == {"bomb.png", "cut.jpg", "cut.gif", "script.png", "zero.webp", "'new\\nline.png'"}
    assert "decompression bomb" in by_name["bomb.png"]
    assert "truncated" in by_name["cut.jpg"] or "broken" in by_name["cut.jpg"]
    assert by_name["script.png"].endswith("not an image PIL can read")
    assert by_name["zero.webp"].endswith("empty file (0 bytes)")
    assert all("\n" not in line for line in lines)  # a hostile name cannot forge extra log lines


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I", "I;16", "F", "YCbCr"])
def test_every_pil_mode_and_size_is_converted(tmp_path, mode):
    image = Image.new("RGB", (13, 7), (200, 100, 50)).convert(mode)
    if mode == "P":
        image.info["transparency"] = 0  # a palette image with a transparent index
    fmt = {"CMYK": "JPEG", "YCbCr": "JPEG", "F": "TIFF", "I": "TIFF", "I;16": "TIFF"}.get(mode, "PNG")
    image.save(tmp_path / f"x.{fmt.lower()}", format=fmt)
    for channels, size in ((1, 5), (3, 16)):
        lines: list[str] = []
        dataset = load(tmp_path, lines, channels=channels, size=size)
        assert dataset.images.shape == (1, channels, size, size), (mode, lines)
        assert lines == []
