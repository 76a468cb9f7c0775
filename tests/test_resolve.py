"""The one resolution step: precedence, the values that follow from others, facts of the data passed in, and
a frozen, complete result whose config.json alone rebuilds the run's models."""

from __future__ import annotations

import dataclasses
import json

import pytest

from ganforge import GanforgeError, RunConfig, TrainConfig, Trainer
from ganforge.config import REQUIRED, specs
from ganforge.presets import PRESETS, build_generator
from ganforge.resolve import DataFacts, preview, resolve, resume_request
from ganforge.run import read_config
from helpers import DIGITS, resolved

MNIST = DataFacts("mnist", 60_000, 10, DIGITS)


def test_user_values_win_over_the_preset_which_wins_over_the_built_in_default():
    cfg = resolved(preset="mlp-sgd", lr_g=0.05)
    assert cfg.lr_g == 0.05  # the user's
    assert cfg.lr_d == 0.01 and cfg.optimizer == "sgd"  # the preset's
    assert cfg.r1_gamma == 0.0 and cfg.pack == 1 and cfg.augment == "none"  # built in
    assert preview(TrainConfig(preset="mlp-sgd"), "batch_size") == 32 == cfg.batch_size


def test_the_result_is_complete_and_frozen():
    cfg = resolved(preset="dcgan-28-fast")
    assert isinstance(cfg, RunConfig)
    for name, spec in specs():
        assert getattr(cfg, name) is not REQUIRED
        assert getattr(cfg, name) is not None or spec.nullable, name
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.steps = 5  # type: ignore[misc]


def test_values_that_follow_from_others():
    cfg = resolved(preset="dcgan-28-fast", steps=250)
    assert (cfg.grid_every, cfg.checkpoint_every) == (25, 25)
    cfg = resolved(preset="dcgan-28-fast", steps=250, grid_every=7)
    assert (cfg.grid_every, cfg.checkpoint_every) == (7, 7)
    # epochs become steps through the dataset's size: whole batches per epoch, over the D steps
    cfg = resolve(TrainConfig(preset="mlp-adam", epochs=2, d_steps=3), DataFacts("mnist-sample", 5000, 10, DIGITS))
    assert (cfg.steps, cfg.epochs) == (-(-2 * (5000 // 128) // 3), 2)
    assert resolved(preset="mlp-adam").epochs == 50  # the preset's length, in its unit


def test_facts_of_the_data_come_in_explicitly():
    cfg = resolve(TrainConfig(preset="dcgan-28-cond", dataset="mnist"), DataFacts("mnist-sample", 5000, 10, DIGITS))
    assert cfg.dataset == "mnist-sample"  # the data actually used (a fallback) is what the run records
    assert (cfg.num_classes, cfg.class_names) == (10, DIGITS)
    assert resolved(preset="dcgan-28-fast").num_classes is None  # unconditional: no classes recorded
    with pytest.raises(GanforgeError, match="needs class labels, and dataset 'folder:/x' has none"):
        resolve(TrainConfig(preset="dcgan-28-cond"), DataFacts("folder:/x", 40, None, None))
    with pytest.raises(GanforgeError, match="made for 3 classes but dataset 'mnist' has 10"):
        resolve(TrainConfig(preset="dcgan-28-cond", num_classes=3), MNIST)


def test_the_image_shape_is_the_presets_unless_its_architecture_allows_another():
    assert (resolved(preset="dcgan-64-rgb").channels, resolved(preset="dcgan-64-rgb").resolution) == (3, 64)
    assert resolved(preset="resnet-64-rgb", resolution=32).resolution == 32
    with pytest.raises(GanforgeError, match="resolution 64: preset 'dcgan-28-fast' makes 28x28 images"):
        resolved(preset="dcgan-28-fast", resolution=64)
    with pytest.raises(GanforgeError, match="channels 3: preset 'mlp-sgd' makes images with 1 channels"):
        resolved(preset="mlp-sgd", channels=3)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_resolves_and_round_trips_through_json(name):
    cfg = resolved(preset=name)
    again = RunConfig.from_dict(json.loads(cfg.to_json()))
    assert again == cfg


def test_a_run_config_alone_rebuilds_the_models(tmp_path):
    out = tmp_path / "run"
    t = Trainer(TrainConfig(preset="dcgan-28-cond", dataset="mnist-sample", batch_size=8, steps=1,
                            extra={"width": 4}, out=str(out), progress=False), log=lambda *_: None)
    t.train()
    cfg = read_config(out)
    assert cfg == t.cfg  # what the loop used is what it wrote; nothing changed it on the way
    g = build_generator(cfg)
    assert {k: v.shape for k, v in g.state_dict().items()} == {k: v.shape for k, v in t.G.state_dict().items()}


def test_resuming_keeps_every_field_and_replaces_the_length():
    cfg = resolved(preset="mlp-adam")  # its length is 50 epochs
    request = resume_request(cfg, steps=900, device="cpu")
    again = resolve(request, MNIST)
    assert (again.steps, again.epochs, again.device) == (900, None, "cpu")
    assert dataclasses.replace(again, steps=cfg.steps, epochs=cfg.epochs, device=cfg.device) == cfg
    assert resolve(resume_request(cfg), MNIST) == cfg


def test_combinations_that_cannot_train_are_refused_in_one_line():
    for kw, needle in [({"d_update": "simultaneous", "r2_gamma": 1.0}, "r2_gamma need a separate D step"),
                       ({"lr_decay_steps": 10}, "needs a decaying lr_schedule"),
                       ({"lr_schedule": "linear", "lr_decay_steps": 10**6, "steps": 10}, "more than the run's 10")]:
        with pytest.raises(GanforgeError, match=needle) as e:
            resolved(preset="dcgan-28-fast", **kw)
        assert "\n" not in str(e.value)
