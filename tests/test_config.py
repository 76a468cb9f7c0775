"""Config files and field checks."""

import pytest

from ganforge import GanforgeError, TrainConfig
from ganforge.config import read_config_file
from helpers import resolved


def test_toml_and_yaml_hold_the_same_fields(tmp_path):
    (tmp_path / "c.toml").write_text('preset = "mlp-adam"\nsteps = 10\nlr-g = 1e-3\nbetas = [0.5, 0.9]\n')
    (tmp_path / "c.yaml").write_text("preset: mlp-adam\nsteps: 10\nlr_g: 0.001\nbetas: [0.5, 0.9]\n")
    a = TrainConfig.from_file(tmp_path / "c.toml")
    b = TrainConfig.from_file(tmp_path / "c.yaml")
    assert a == b
    assert a.lr_g == 1e-3 and a.betas == (0.5, 0.9) and a.steps == 10


def test_resolved_takes_preset_defaults_and_user_values_win():
    cfg = resolved(preset="dcgan-28", lr_g=3e-4)
    assert cfg.lr_g == 3e-4 and cfg.lr_d == 1e-4 and cfg.batch_size == 256 and cfg.epochs == 50
    cfg = resolved(preset="dcgan-28", steps=5)
    assert cfg.steps == 5 and cfg.epochs is None


@pytest.mark.parametrize("data,match", [
    ({"batch_size": 0}, "batch_size must be a positive integer, got 0"),
    ({"batch_size": "big"}, "field 'batch_size' must be an integer, got 'big'"),
    ({"steps": True}, "field 'steps' must be an integer"),
    ({"lr_g": -1.0}, "lr_g must be a positive number"),
    ({"optimizer": "rmsprop"}, "optimizer must be one of adam, sgd; got 'rmsprop'"),
    ({"loss": "l1"}, "loss must be one of bce, .*rpgan; got 'l1'"),
    ({"d_update": "both"}, "d_update must be one of simultaneous, sum, concat, separate; got 'both'"),
    ({"betas": [0.5]}, "betas must be two numbers"),
    ({"colour": 1}, "unknown field 'colour'"),
    ({"steps": 3, "epochs": 2}, "not both"),
    ({"device": "tpu"}, "device must be auto, cpu, cuda"),
])
def test_bad_values_are_refused_with_the_field_named(data, match):
    with pytest.raises(GanforgeError, match=match):
        TrainConfig.from_dict(data)


def test_extra_width_reaches_the_preset_and_unknown_options_are_refused():
    assert resolved(preset="dcgan-28-stacked", extra={"width": 64}).extra["width"] == 64
    assert resolved(preset="resnet-28-mnist").extra["width"] == 32
    # A fixed architecture would ignore a width without a word: refused, naming the preset.
    with pytest.raises(GanforgeError, match="extra.width: preset 'dcgan-28' has no option 'width'; its "
                                            "architecture is fixed"):
        resolved(preset="dcgan-28", extra={"width": 64})
    with pytest.raises(GanforgeError, match="extra.depth: preset 'dcgan-28-fast' has no option 'depth'; its "
                                            "options: width"):
        resolved(preset="dcgan-28-fast", extra={"depth": 3})
    for bad in (0, -4, 2.5, "64", True):
        with pytest.raises(GanforgeError, match=f"extra.width must be a positive integer for preset "
                                                f"'dcgan-28-fast', got {bad!r}"):
            resolved(preset="dcgan-28-fast", extra={"width": bad})
    # The class count is a fact of the data, not an architecture option.
    with pytest.raises(GanforgeError, match="extra.num_classes: preset 'mlp-adam' has no option"):
        resolved(preset="mlp-adam", extra={"num_classes": 10})


def test_an_unknown_preset_is_refused_at_resolution_with_the_choices():
    with pytest.raises(GanforgeError, match="unknown preset 'nope'; choose one of: .*dcgan-28"):
        resolved(preset="nope")


def test_bad_file_errors(tmp_path):
    with pytest.raises(GanforgeError, match="does not exist"):
        read_config_file(tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_text("steps = = 3")
    with pytest.raises(GanforgeError, match="not valid TOML"):
        read_config_file(tmp_path / "bad.toml")
    (tmp_path / "c.ini").write_text("x")
    with pytest.raises(GanforgeError, match=r"\.toml, \.yaml"):
        read_config_file(tmp_path / "c.ini")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(GanforgeError, match="table of fields"):
        read_config_file(tmp_path / "list.yaml")
