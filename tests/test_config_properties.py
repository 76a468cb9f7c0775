"""Property tests of config parsing: every field, every wrong type and out-of-range value is refused with one
line naming the field, through TrainConfig.from_dict and through ``ganforge train``; valid configs round-trip."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ganforge import GanforgeError, TrainConfig
from ganforge.cli import build_parser, main
from ganforge.config import MAX_SEED, spec
from ganforge.loggers import LOGGERS
from ganforge.losses import LOSSES
from ganforge.presets import PRESETS

FIELDS = [f.name for f in dataclasses.fields(TrainConfig)]
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# ---- wrong types -------------------------------------------------------------------------------------------

ANY_VALUE = st.one_of(
    st.booleans(), st.integers(), st.floats(), st.text(max_size=8), st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


def accepted_type(kind: type, value: object) -> bool:
    """What from_dict takes for a field of type ``kind`` (TOML/YAML give ints for floats, lists for pairs)."""
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind in (tuple, list):
        return isinstance(value, (list, tuple))
    return isinstance(value, kind)


# ---- right type, wrong value: one entry per field, so a new field must say what it refuses --------------------

def not_in(choices) -> st.SearchStrategy:
    return st.text(max_size=12).filter(lambda s: s not in choices)


NON_POSITIVE = st.integers(max_value=0)
BAD_POSITIVE_FLOAT = st.one_of(st.floats(max_value=0.0), st.just(math.inf), st.just(math.nan))
BAD_NON_NEGATIVE_FLOAT = st.one_of(st.floats(max_value=-1e-300), st.just(math.inf), st.just(math.nan))
OUT_OF_UNIT = st.one_of(st.floats(max_value=-1e-300), st.floats(min_value=1.0), st.just(math.nan))
EMPTY = st.just("")
BAD_VALUES: dict[str, st.SearchStrategy | None] = {
    "preset": EMPTY, "dataset": EMPTY, "channels": st.integers().filter(lambda v: v not in (1, 3)),
    "resolution": NON_POSITIVE, "fit": not_in({"crop", "resize"}), "mirror": None,
    "num_classes": NON_POSITIVE, "class_names": st.just([1, 2]), "clusters": st.integers(max_value=1),
    "cluster_shares": st.one_of(st.just([]), st.just([1.5, -0.5]), st.just([math.nan, 1.0]),
                                st.lists(st.floats(0, 1), min_size=1, max_size=4)
                                .filter(lambda v: abs(sum(v) - 1) > 1e-5)),
    "r2_gamma": BAD_NON_NEGATIVE_FLOAT,
    "data_dir": EMPTY, "steps": NON_POSITIVE, "epochs": NON_POSITIVE,
    "batch_size": NON_POSITIVE, "z_dim": NON_POSITIVE, "conditional": None, "optimizer": not_in({"adam", "sgd"}),
    "lr_g": BAD_POSITIVE_FLOAT, "lr_d": BAD_POSITIVE_FLOAT,
    "betas": st.one_of(st.tuples(OUT_OF_UNIT, st.floats(0, 0.99)), st.tuples(st.floats(0, 0.99), OUT_OF_UNIT),
                       st.lists(st.floats(0, 0.99), max_size=4).filter(lambda v: len(v) != 2).map(tuple)),
    "momentum": OUT_OF_UNIT, "loss": not_in(LOSSES),
    "d_update": not_in({"sum", "concat", "separate", "simultaneous"}), "d_steps": NON_POSITIVE, "g_eval_for_d": None,
    "g_noise": not_in({"fresh", "reuse"}),
    "init": not_in({"keras", "dcgan", "torch"}), "ema_kimg": BAD_NON_NEGATIVE_FLOAT,
    "r1_gamma": BAD_NON_NEGATIVE_FLOAT, "r1_every": NON_POSITIVE, "gp_weight": BAD_NON_NEGATIVE_FLOAT,
    "spectral_norm": not_in({"none", "d", "gd"}), "augment": st.from_regex(r"\A[0-9xyz]{1,6}\Z"),
    "lr_schedule": not_in({"constant", "linear", "cosine"}), "lr_decay_steps": NON_POSITIVE,
    "pack": NON_POSITIVE,
    "seed": st.one_of(st.integers(max_value=-1), st.integers(min_value=MAX_SEED + 1)),
    "device": st.one_of(not_in({"auto", "cpu", "cuda"}).filter(lambda s: not s.startswith("cuda:")),
                        st.from_regex(r"\Acuda:[a-z ]{0,3}\Z")),
    "precision": not_in({"fp32", "bf16"}), "compile": not_in({"auto", "none", "default", "reduce-overhead",
                                                              "max-autotune"}),
    "channels_last": not_in({"auto", "on", "off"}), "max_bad_steps": NON_POSITIVE, "out": EMPTY,
    "accel": st.from_regex(r"\A[0-9xyz, ]{0,6}\Z"),  # never a trick's name, nor auto or off
    "log_every": NON_POSITIVE, "grid_every": NON_POSITIVE, "grid_size": NON_POSITIVE,
    "checkpoint_every": NON_POSITIVE, "eval_every": NON_POSITIVE, "eval_metric": EMPTY, "eval_n": NON_POSITIVE,
    "logger": not_in(LOGGERS), "progress": None,
    "extra": None,  # preset-specific; each architecture checks its own options
}


def names_the_field(message: str, field: str) -> bool:
    return field in message or field.replace("_", "-") in message


def test_every_field_is_covered():
    # A new config field needs a line here saying which values it refuses.
    assert set(BAD_VALUES) == set(FIELDS), sorted(set(FIELDS) ^ set(BAD_VALUES))


@st.composite
def wrong_type(draw) -> tuple[str, object]:
    field = draw(st.sampled_from(FIELDS))
    value = draw(ANY_VALUE.filter(lambda v: not accepted_type(spec(field).kind, v)))
    return field, value


@st.composite
def wrong_value(draw) -> tuple[str, object]:
    field = draw(st.sampled_from([f for f in FIELDS if BAD_VALUES[f] is not None]))
    return field, draw(BAD_VALUES[field])


@SETTINGS
@given(st.one_of(wrong_type(), wrong_value()))
def test_from_dict_refuses_with_one_line_naming_the_field(case):
    field, value = case
    with pytest.raises(GanforgeError) as e:
        TrainConfig.from_dict({field: value})
    message = str(e.value)
    assert "\n" not in message and names_the_field(message, field), message


# ---- the command line -------------------------------------------------------------------------------------------

def train_flags() -> dict[str, str]:
    """field -> flag, for every config field that ``ganforge train`` has a flag for."""
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices["train"]
    return {a.dest: a.option_strings[0] for a in sub._actions if a.option_strings and a.dest in FIELDS}


FLAGS = train_flags()
NOT_A_NUMBER = st.text(max_size=6).filter(lambda s: not _is_number(s))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@st.composite
def bad_flag(draw) -> tuple[str, list[str]]:
    field = draw(st.sampled_from(sorted(f for f in FLAGS if BAD_VALUES[f] is not None)))
    flag, kind = FLAGS[field], spec(field).kind
    if field == "betas":
        values = draw(BAD_VALUES[field].filter(lambda v: len(v) == 2))
        return field, [flag, repr(float(values[0])), repr(float(values[1]))]
    if kind in (int, float) and draw(st.booleans()):
        return field, [f"{flag}={draw(NOT_A_NUMBER)}"]
    return field, [f"{flag}={draw(BAD_VALUES[field])}"]


@pytest.fixture(scope="module")
def occupied(tmp_path_factory) -> Path:
    # --out to a non-empty folder: if a bad value were ever accepted, the run stops here instead of training.
    out = tmp_path_factory.mktemp("occupied")
    (out / "x").write_text("x")
    return out


def test_every_train_flag_is_a_field():
    assert {"steps", "batch_size", "lr_g", "betas", "device", "seed", "preset"} <= set(FLAGS)


@SETTINGS
@given(bad_flag())
def test_cli_refuses_with_one_line_naming_the_flag(occupied, capsys, case):
    field, args = case
    capsys.readouterr()
    try:
        rc = main(["train", "--out", str(occupied), *args])
    except SystemExit as e:  # argparse's own refusal
        rc = e.code
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert "already exists" not in err, f"{args} was accepted"
    assert names_the_field(err, field), err


# ---- valid configs survive the round trip through config.json -------------------------------------------------------

FINITE = {"allow_nan": False, "allow_infinity": False}
VALID = {
    "preset": st.sampled_from(sorted(PRESETS)), "dataset": st.text(min_size=1, max_size=10),
    "steps": st.integers(1, 10**9), "batch_size": st.integers(1, 4096), "z_dim": st.integers(1, 512),
    "optimizer": st.sampled_from(["adam", "sgd"]), "lr_g": st.floats(1e-12, 10, **FINITE),
    "lr_d": st.integers(1, 3), "betas": st.tuples(st.floats(0, 0.999), st.floats(0, 0.999)),
    "momentum": st.floats(0, 0.999), "loss": st.sampled_from(sorted(LOSSES)),
    "d_update": st.sampled_from(["sum", "concat", "separate", "simultaneous"]), "d_steps": st.integers(1, 5),
    "g_eval_for_d": st.booleans(), "g_noise": st.sampled_from(["fresh", "reuse"]),
    "fit": st.sampled_from(["crop", "resize"]), "mirror": st.booleans(),
    "init": st.sampled_from(["keras", "dcgan", "torch"]),
    "ema_kimg": st.floats(0, 100, **FINITE), "pack": st.integers(1, 8), "seed": st.integers(0, MAX_SEED),
    "device": st.sampled_from(["auto", "cpu", "cuda", "cuda:1"]), "grid_size": st.integers(1, 16),
    "progress": st.booleans(), "out": st.text(min_size=1, max_size=10),
    "extra": st.dictionaries(st.text(min_size=1, max_size=5), st.integers() | st.text(max_size=4), max_size=3),
}


@SETTINGS
@given(st.fixed_dictionaries({}, optional=VALID))
def test_valid_configs_round_trip_through_json(values):
    cfg = TrainConfig.from_dict(values)
    again = TrainConfig.from_dict(json.loads(cfg.to_json()))
    assert again == cfg
    assert again.to_json() == cfg.to_json()


# ---- any file handed over as --config -----------------------------------------------------------------------

CONFIG_TEXT = st.one_of(
    st.binary(max_size=64),
    st.text(max_size=64).map(str.encode),
    # near misses: real field names with random values in each syntax
    st.tuples(st.sampled_from(FIELDS), st.text(max_size=12)).map(lambda kv: f"{kv[0]} = {kv[1]}\n".encode()),
    st.tuples(st.sampled_from(FIELDS), st.text(max_size=12)).map(lambda kv: f"{kv[0]}: {kv[1]}\n".encode()),
)


@SETTINGS
@given(content=CONFIG_TEXT, suffix=st.sampled_from([".toml", ".yaml", ".json"]))
def test_any_config_file_is_read_or_refused_in_one_line(tmp_path, content, suffix):
    path = tmp_path / f"c{suffix}"
    path.write_bytes(content)
    try:
        cfg = TrainConfig.from_file(path)
    except GanforgeError as e:
        assert "\n" not in str(e), str(e)
    else:
        assert isinstance(cfg, TrainConfig)


@pytest.mark.parametrize("suffix,text", [
    (".json", "[" * 100_000 + "]" * 100_000), (".yaml", "[" * 100_000 + "]" * 100_000),
    (".toml", "a = " + "[" * 100_000 + "]" * 100_000), (".toml", "steps = 3\n\xff"),
])
def test_hostile_config_files_are_refused_in_one_line(tmp_path, suffix, text):
    path = tmp_path / f"c{suffix}"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(GanforgeError, match=f"config file '{path}' is ") as e:
        TrainConfig.from_file(path)
    assert "\n" not in str(e.value)
