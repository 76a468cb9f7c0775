"""What a folder holds, read from a sample of headers, and the preset it chooses when none is given."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganforge.config import TrainConfig
from ganforge.data import folder as folder_module
from ganforge.data import probe_folder
from ganforge.errors import GanforgeError
from ganforge.resolve import choose_preset
from helpers import colour_presets, shapes_folder


def test_a_colour_folder(tmp_path: Path) -> None:
    shapes_folder(tmp_path, 30, (48, 40), classes=("a", "b"))
    probe = probe_folder(tmp_path)
    assert (probe.count, probe.sampled, probe.readable, probe.colour) == (30, 30, 30, 30)
    assert probe.is_colour and probe.tone == "colour"
    assert (probe.short_side, probe.long_side, probe.size_text) == (40, 48, "48x40")  # not about square
    assert probe.class_names == ["a", "b"]
    assert probe.describe() == "30 colour images of about 48x40"


def test_a_grey_folder_and_grey_pictures_saved_as_rgb(tmp_path: Path) -> None:
    shapes_folder(tmp_path / "l", 20, (28, 28), mode="L")
    probe = probe_folder(tmp_path / "l")
    assert (probe.colour, probe.tone, probe.size_text, probe.class_names) == (0, "grey", "28x28", None)
    # Grey pictures stored as RGB (a scan, an export), JPEG noise included: grey by their pixels.
    (tmp_path / "rgb").mkdir()
    for i in range(12):
        grey = Image.fromarray(np.random.default_rng(i).integers(0, 256, (30, 30), dtype=np.uint8))
        grey.convert("RGB").save(tmp_path / "rgb" / f"{i}.jpg", quality=80)
    probe = probe_folder(tmp_path / "rgb")
    assert (probe.readable, probe.colour, probe.tone) == (12, 0, "grey")


def test_a_mixed_folder_goes_with_its_majority(tmp_path: Path) -> None:
    shapes_folder(tmp_path, 12, (32, 32), mode="RGB", seed=1)
    shapes_folder(tmp_path / "x", 5, (32, 32), mode="L", seed=2)  # a loose sub-folder: no classes
    probe = probe_folder(tmp_path)
    assert (probe.count, probe.colour, probe.is_colour, probe.tone) == (17, 12, True, "mostly colour")
    assert probe.class_names is None


def test_the_sample_is_a_few_hundred_headers_and_always_the_same(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(folder_module, "PROBE_SAMPLE", 7)
    shapes_folder(tmp_path, 40, (16, 24), mode="L")
    opened: list[str] = []
    real_open = Image.open
    monkeypatch.setattr(Image, "open", lambda path, *a, **k: opened.append(Path(path).name) or real_open(path, *a, **k))
    probe = probe_folder(tmp_path)
    assert probe.sampled == 7 and probe.count == 40 and len(opened) == 7  # grey modes: no pixel decoded
    first = list(opened)
    opened.clear()
    probe_folder(tmp_path)
    assert opened == first and first[0] == "000.png" and len(set(first)) == 7


def test_unreadable_files_are_left_out_and_a_missing_folder_is_an_error(tmp_path: Path) -> None:
    shapes_folder(tmp_path, 4, (20, 20))
    (tmp_path / "bad.png").write_bytes(b"not a png")
    probe = probe_folder(tmp_path)
    assert (probe.count, probe.readable, probe.colour) == (5, 4, 4)
    with pytest.raises(GanforgeError, match="image folder not found"):
        probe_folder(tmp_path / "nowhere")


# ---- the preset a folder chooses -------------------------------------------------------------------------------

def choose(dataset: str, **fields) -> tuple[TrainConfig, list[str]]:
    lines: list[str] = []
    return choose_preset(TrainConfig(dataset=dataset, **fields), log=lines.append), lines


def test_colour_images_choose_the_colour_preset_nearest_their_size(tmp_path: Path, monkeypatch) -> None:
    presets = colour_presets(monkeypatch)
    shapes_folder(tmp_path / "big", 6, (64, 64))
    request, lines = choose(f"folder:{tmp_path / 'big'}")
    assert (request.preset, request.channels, request.resolution) == (presets[64], 3, 64)
    assert lines == [f"folder:{tmp_path / 'big'} holds 6 colour images of about 64x64: training {presets[64]} "
                     f"(64x64 RGB); choose another with --preset"]
    shapes_folder(tmp_path / "small", 6, (36, 36))
    request, lines = choose(f"folder:{tmp_path / 'small'}")
    assert request.preset == presets[32] and request.resolution == 32 and len(lines) == 1
    shapes_folder(tmp_path / "huge", 6, (300, 200))  # 200 px: nearest 64, shrunk 3.1x
    request, lines = choose(f"folder:{tmp_path / 'huge'}")
    assert request.preset == presets[64]
    assert lines[0].endswith("(64x64 RGB); your images are shrunk 3.1x; choose another with --preset")
    assert "about 300x200" in lines[0]


def test_grey_28_px_images_choose_the_default(tmp_path: Path, monkeypatch) -> None:
    colour_presets(monkeypatch)
    shapes_folder(tmp_path, 6, (28, 28), mode="L")
    request, lines = choose(f"folder:{tmp_path}")
    assert (request.preset, request.channels, request.resolution) == ("dcgan-28-fast", 1, 28)
    assert lines == [f"folder:{tmp_path} holds 6 grey images of about 28x28: training dcgan-28-fast (28x28 grey); "
                     "choose another with --preset"]


def test_asked_channels_and_resolution_narrow_the_choice(tmp_path: Path, monkeypatch) -> None:
    presets = colour_presets(monkeypatch)
    shapes_folder(tmp_path, 6, (64, 64))
    assert choose(f"folder:{tmp_path}", resolution=32)[0].preset == presets[32]
    # Grey asked of 64 px colour images: a preset that makes grey at their size, rather than shrinking them.
    request, lines = choose(f"folder:{tmp_path}", channels=1)
    assert (request.preset, request.channels, request.resolution) == (presets[64], 1, 64)
    assert lines[0].endswith("your images are turned grey; choose another with --preset")


def test_without_a_colour_preset_the_default_says_what_it_does(tmp_path: Path, monkeypatch) -> None:
    from ganforge.presets import PRESETS

    for name, preset in list(PRESETS.items()):
        if preset.cpu_default and preset.image_shape[0] == 3:
            monkeypatch.delitem(PRESETS, name)
    shapes_folder(tmp_path, 6, (64, 64))
    request, lines = choose(f"folder:{tmp_path}")
    assert request.preset == "dcgan-28-fast"
    assert lines == [f"folder:{tmp_path} holds 6 colour images of about 64x64: training dcgan-28-fast (28x28 grey; "
                     "no preset for CPUs makes colour images); your images are turned grey and shrunk 2.3x; "
                     "choose another with --preset"]


def test_an_explicit_preset_that_changes_the_images_says_so(tmp_path: Path) -> None:
    shapes_folder(tmp_path / "colour", 6, (64, 64))
    request, lines = choose(f"folder:{tmp_path / 'colour'}", preset="dcgan-28-fast")
    assert request.preset == "dcgan-28-fast"
    assert lines == ["dcgan-28-fast makes 28x28 grey images: your 64x64 colour images are turned grey and shrunk 2.3x"]
    shapes_folder(tmp_path / "tiny", 6, (12, 12), mode="L")
    assert choose(f"folder:{tmp_path / 'tiny'}", preset="dcgan-28-fast")[1] == [
        "dcgan-28-fast makes 28x28 grey images: your 12x12 grey images are enlarged 2.3x"]
    shapes_folder(tmp_path / "near", 6, (40, 40), mode="L")  # 1.4x: not worth a line
    assert choose(f"folder:{tmp_path / 'near'}", preset="dcgan-28-fast")[1] == []
    lines = []
    choose_preset(TrainConfig(dataset=f"folder:{tmp_path / 'colour'}", preset="dcgan-28-fast"), explain=False,
                  log=lines.append)
    assert lines == []  # a resume: said when the run started


def test_other_datasets_are_left_alone() -> None:
    request, lines = choose("mnist-sample")
    assert request.preset is None and lines == []
