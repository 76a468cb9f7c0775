"""Hostile checkpoints: every way a run's last.safetensors can be wrong is refused with one clear line,
through every door (load_run, Trainer.resume, ganforge sample, ganforge eval), and nothing in a file runs."""

from __future__ import annotations

import json
import pickle
import random
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ganforge import GanforgeError, TrainConfig, Trainer, load_run
from ganforge.checkpoint import Checkpoint
from ganforge.cli import main

LAST = Path("checkpoints") / "last.safetensors"


def quiet(*_):
    pass


def tiny(out: Path, **kw) -> Path:
    base = {"preset": "dcgan-28-fast", "dataset": "mnist-sample", "batch_size": 8, "extra": {"width": 8},
            "steps": 1, "progress": False, "out": str(out)}
    Trainer(TrainConfig(**{**base, **kw}), log=quiet).train()
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    return {"good": tiny(root / "good"), "wide": tiny(root / "wide", extra={"width": 16}),
            "mlp": tiny(root / "mlp", preset="mlp-adam", extra={})}


# ---- editing a safetensors file's JSON header ------------------------------------------------------------

def read_header(path: Path) -> tuple[dict, bytes]:
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def write_header(path: Path, header: dict | bytes, data: bytes) -> None:
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)


def edit_meta(**changes: str | None) -> Callable[[Path, dict], None]:
    """Set (or with None, delete) entries of the checkpoint's __metadata__ (the JSON strings ganforge wrote)."""
    def edit(run: Path, runs: dict) -> None:
        header, data = read_header(run / LAST)
        for key, value in changes.items():
            if value is None:
                header["__metadata__"].pop(key, None)
            else:
                header["__metadata__"][key] = value
        write_header(run / LAST, header, data)
    return edit


def edit_meta_json(**fields) -> Callable[[Path, dict], None]:
    def edit(run: Path, runs: dict) -> None:
        header, data = read_header(run / LAST)
        meta = json.loads(header["__metadata__"]["meta"])
        meta.update(fields)
        header["__metadata__"]["meta"] = json.dumps(meta)
        write_header(run / LAST, header, data)
    return edit


def retype(key: str, dtype: str, shape: list[int] | None = None) -> Callable[[Path, dict], None]:
    """Relabel one tensor's dtype (and shape), keeping its bytes: a header edit safetensors itself accepts."""
    def edit(run: Path, runs: dict) -> None:
        header, data = read_header(run / LAST)
        header[key]["dtype"] = dtype
        if shape is not None:
            header[key]["shape"] = shape
        write_header(run / LAST, header, data)
    return edit


def bytes_(make: Callable[[bytes], bytes]) -> Callable[[Path, dict], None]:
    def edit(run: Path, runs: dict) -> None:
        (run / LAST).write_bytes(make((run / LAST).read_bytes()))
    return edit


def other_run(name: str) -> Callable[[Path, dict], None]:
    def edit(run: Path, runs: dict) -> None:
        shutil.copyfile(runs[name] / LAST, run / LAST)
    return edit


def config_preset(preset: str) -> Callable[[Path, dict], None]:
    def edit(run: Path, runs: dict) -> None:
        cfg = json.loads((run / "config.json").read_text())
        cfg["preset"] = preset
        (run / "config.json").write_text(json.dumps(cfg))
    return edit


class Evil:
    """Unpickling this creates the marker file: if the marker exists, a file was unpickled."""

    marker = ""

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def pickled(use_torch: bool) -> Callable[[Path, dict], None]:
    def edit(run: Path, runs: dict) -> None:
        evil = Evil()
        evil.marker = str(run.parent / "unpickled")
        if use_torch:  # what torch.save writes: a zip with a pickle inside
            torch.save({"G": evil}, run / LAST)
        else:
            (run / LAST).write_bytes(pickle.dumps(evil))
    return edit


CASES = {
    "truncated": (bytes_(lambda b: b[: len(b) // 2]), "truncated"),
    "empty": (bytes_(lambda b: b""), "not a readable safetensors file"),
    "random bytes": (bytes_(lambda b: random.Random(0).randbytes(4096)), "not a readable safetensors file"),
    "pickle": (pickled(False), "not a readable safetensors file"),
    "torch.save pickle": (pickled(True), "not a readable safetensors file"),
    "header not JSON": (bytes_(lambda b: b[:8] + b"x" + b[9:]), "not a readable safetensors file"),
    "meta not JSON": (edit_meta(meta="{step: 3"), "corrupt header: 'meta' is not valid JSON"),
    "meta not an object": (edit_meta(meta="[3]"), "corrupt header: 'meta' must be a JSON object"),
    "step not a number": (edit_meta_json(step="lots"), "meta 'step' must be a non-negative integer, got 'lots'"),
    "negative step": (edit_meta_json(step=-4), "meta 'step' must be a non-negative integer"),
    "best not a number": (edit_meta_json(best=[1]), "meta 'best' must be a number"),
    "not ganforge's": (edit_meta(format=None), "a safetensors file but not a ganforge checkpoint"),
    "future version": (edit_meta(version="99"), "format version '99'; this ganforge reads version 1"),
    "optimiser JSON": (edit_meta(**{"opt_g.json": '{"param_groups": 7'}), "'opt_g.json' is not valid JSON"),
    "optimiser shape": (edit_meta(**{"opt_g.json": '{"param_groups": 7, "scalars": {}}'}),
                        "optimiser 'opt_g' does not fit"),
    "rng dtype": (retype("rng/torch", "F32", [1264]), "RNG state 'rng/torch' has dtype F32"),
    "weight dtype": (retype("G_ema/net.0.weight", "I32"), "dtype torch.int32 in the checkpoint"),
    "other size": (other_run("wide"), "has shape 1568x64 in the checkpoint and 784x64 in the model"),
    "other preset": (other_run("mlp"), "written by preset 'mlp-adam', but the run is 'dcgan-28-fast'"),
    "config edited": (config_preset("dcgan-28"), "written by preset 'dcgan-28-fast', but the run is 'dcgan-28'"),
}
# Doors that read only G (sampling) cannot see damage to D, the optimisers or the RNG: only a resume can.
RESUME_ONLY = {"optimiser JSON", "optimiser shape"}


@pytest.fixture(params=list(CASES))
def hostile(request, runs, tmp_path):
    edit, needle = CASES[request.param]
    run = tmp_path / "run"
    shutil.copytree(runs["good"], run)
    edit(run, runs)
    return request.param, run, needle


def test_refused_through_every_door(hostile, capsys):
    name, run, needle = hostile
    doors: list[tuple[str, Callable[[], object]]] = [
        ("Trainer.resume", lambda: Trainer.resume(run, steps=4, log=quiet)),
        ("ganforge train --resume", lambda: main(["train", "--resume", str(run), "--steps", "4", "--no-progress"])),
    ]
    if name not in RESUME_ONLY:
        doors += [("load_run", lambda: load_run(run, device="cpu")),
                  ("ganforge sample", lambda: main(["sample", str(run), "--n", "4", "--device", "cpu"])),
                  ("ganforge eval", lambda: main(["eval", str(run), "--n", "10", "--device", "cpu"]))]
    for door, call in doors:
        if door.startswith("ganforge"):
            assert call() == 2, door
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and "Traceback" not in err, (door, err)
            assert needle in err, (door, err)
            assert "config.json" in err or str(run / LAST) in err, (door, err)  # the file is named
        else:
            with pytest.raises(GanforgeError, match=None) as e:
                call()
            assert needle in str(e.value) and "\n" not in str(e.value), (door, str(e.value))
    assert not (run.parent / "unpickled").exists()  # nothing in the file was executed
    assert not (run / "samples").exists()


def test_the_pickle_test_can_see_an_unpickling(tmp_path):
    # The marker is a working detector: unpickling Evil does create it.
    evil = Evil()
    evil.marker = str(tmp_path / "unpickled")
    pickle.loads(pickle.dumps(evil))
    assert (tmp_path / "unpickled").exists()


# ---- random damage to the header: loaded, or refused with a GanforgeError, never anything else --------------

@pytest.fixture(scope="module")
def resumable(runs, tmp_path_factory):
    run = tmp_path_factory.mktemp("resumable") / "run"
    shutil.copytree(runs["good"], run)
    return Trainer.resume(run, steps=4, log=quiet)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_header_damage_is_loaded_or_refused_cleanly(runs, resumable, tmp_path, data):
    raw = (runs["good"] / LAST).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    damaged = bytearray(raw)
    json_ish = st.sampled_from(b'0123456789-.eE"{}[],: abcdefFUI')
    for _ in range(data.draw(st.integers(1, 4))):
        damaged[data.draw(st.integers(8, 8 + n - 1))] = data.draw(st.one_of(json_ish, st.integers(0, 255)))
    path = tmp_path / "damaged.safetensors"
    path.write_bytes(bytes(damaged))
    rng = torch.get_rng_state()
    try:
        resumable._load(Checkpoint(path))  # G, G_ema, D, both optimisers, step, RNG: all a resume reads
    except GanforgeError as e:
        assert "\n" not in str(e) and str(path) in str(e), str(e)
    finally:
        torch.set_rng_state(rng)
