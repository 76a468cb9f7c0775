"""Pretrained folders: save_pretrained / from_pretrained round-trip to identical images, offline."""

import json

import pytest
import torch

import ganforge
from ganforge import GanforgeError, load_run
from ganforge.cli import main
from ganforge.run.pretrained import CARD_FILE, CONFIG_FILE, MODEL_FILE, SAMPLES_FILE


@pytest.fixture(scope="module")
def pretrained(tiny_run, tmp_path_factory):
    return load_run(tiny_run, device="cpu").save_pretrained(tmp_path_factory.mktemp("hub") / "digits")


def test_round_trip_gives_identical_images(tiny_run, pretrained):
    run = load_run(tiny_run, device="cpu")
    g = ganforge.Generator.from_pretrained(pretrained, device="cpu")
    assert sorted(p.name for p in pretrained.iterdir()) == sorted([CONFIG_FILE, MODEL_FILE, CARD_FILE, SAMPLES_FILE])
    assert torch.equal(g.generate(8, seed=3), run.generate(8, seed=3))
    assert (g.z_dim, g.image_shape, g.num_classes, g.step) == (64, (1, 28, 28), None, 2)
    assert not g.generator.training


def test_config_and_model_card(pretrained):
    config = json.loads((pretrained / CONFIG_FILE).read_text())
    assert config["preset"] == "dcgan-28-fast" and config["z_dim"] == 64 and config["image_shape"] == [1, 28, 28]
    assert config["train_config"]["out"] is None  # no local paths in a folder meant for sharing
    card = (pretrained / CARD_FILE).read_text()
    assert card.startswith("---\nlibrary_name: ganforge\n") and "from_pretrained" in card


def test_sample_and_export_accept_the_folder(tiny_run, pretrained, tmp_path, capsys):
    assert main(["sample", str(pretrained), "--n", "4", "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").is_file()
    assert main(["export", str(tiny_run), "--format", "pretrained", "--out", str(tmp_path / "p")]) == 0
    again = ganforge.Generator.from_pretrained(tmp_path / "p", device="cpu")
    assert torch.equal(again.generate(3, seed=1), load_run(pretrained, device="cpu").generate(3, seed=1))


def test_errors_are_one_line(tiny_run, pretrained, tmp_path):
    with pytest.raises(GanforgeError, match="downloads from the Hugging Face Hub are off"):
        ganforge.Generator.from_pretrained("someone/some-gan")  # the test conftest sets GANFORGE_OFFLINE=1
    with pytest.raises(GanforgeError, match="not a ganforge pretrained folder.*load_run"):
        ganforge.Generator.from_pretrained(tiny_run)
    with pytest.raises(GanforgeError, match="no pretrained folder"):
        ganforge.Generator.from_pretrained(tmp_path / "missing")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / CONFIG_FILE).write_bytes((pretrained / CONFIG_FILE).read_bytes())
    (broken / MODEL_FILE).write_bytes((pretrained / MODEL_FILE).read_bytes()[:100])
    with pytest.raises(GanforgeError, match="not a readable safetensors file"):
        ganforge.Generator.from_pretrained(broken)
