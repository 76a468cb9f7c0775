"""Config files of earlier layouts are read as the runs that wrote them trained."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ganforge import GanforgeError
from ganforge.config import CONFIG_VERSION
from ganforge.run import read_config
from ganforge.run.migrate import LAYOUT_1_NULLS

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "runs-0.1.0"


def test_a_layout_1_config_reads_its_nulls_as_the_trainer_of_that_version_did():
    cfg = read_config(FIXTURES / "conditional")
    raw = json.loads((FIXTURES / "conditional" / "config.json").read_text())
    assert "config_version" not in raw and raw["r1_gamma"] is None and raw["extra"]["num_classes"] == 10
    assert (cfg.r1_gamma, cfg.r1_every, cfg.pack, cfg.g_noise, cfg.lr_schedule, cfg.spectral_norm) == (
        0.0, 1, 1, "fresh", "constant", "none")
    assert (cfg.num_classes, cfg.class_names[:3], cfg.extra) == (10, ["0", "1", "2"], {"width": 8})
    assert (cfg.channels, cfg.resolution) == (1, 28)  # the preset's shape, which layout 1 did not write


@pytest.mark.parametrize("name", ["mlp-sgd-separate", "resnet-gp-nsteps", "simultaneous", "ema-r1-augment"])
def test_every_old_fixture_reads(name):
    cfg = read_config(FIXTURES / name)
    raw = json.loads((FIXTURES / name / "config.json").read_text())
    for key, value in raw.items():
        if key == "extra":
            continue
        if value is None and key in LAYOUT_1_NULLS:
            value = LAYOUT_1_NULLS[key]
        assert getattr(cfg, key) == (tuple(value) if isinstance(value, list) and key == "betas" else value), key


def test_an_epoch_length_becomes_steps_from_the_dataset_it_trained_on(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(FIXTURES / "simultaneous", run)
    raw = json.loads((run / "config.json").read_text())
    raw.update(steps=None, epochs=2)  # as layout 1 wrote a run given in epochs (mnist-sample: 5,000 images)
    (run / "config.json").write_text(json.dumps(raw))
    assert read_config(run).steps == 2 * (5000 // 16)


def test_a_newer_layout_is_refused_with_a_hint(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"config_version": CONFIG_VERSION + 1}))
    with pytest.raises(GanforgeError, match="written by a newer ganforge .* upgrade"):
        read_config(tmp_path)

