"""Failed writes (disk full, read-only folder, no permission): one clear line, earlier files untouched.

Tests run as root, for whom chmod does not make a folder read-only, so the failures are injected by
monkeypatching the lowest write ganforge calls, always for one file only.
"""

from __future__ import annotations

import errno
import shutil
import tempfile
from pathlib import Path

import pytest

import ganforge.fileio as fileio
from ganforge import GanforgeError, TrainConfig, Trainer
from ganforge.cli import main
from ganforge.fileio import WriteError, append_text, atomic_write_text, remove_stale_temps

FAULTS = [(errno.ENOSPC, "No space left on device"), (errno.EROFS, "Read-only file system"),
          (errno.EACCES, "Permission denied")]


def _oserror(code: int) -> OSError:
    return OSError(code, dict(FAULTS)[code])


@pytest.mark.parametrize("code,reason", FAULTS)
@pytest.mark.parametrize("where", ["create", "write", "rename"])
def test_failed_atomic_write_names_the_file_and_keeps_the_old_one(tmp_path, monkeypatch, code, reason, where):
    path = tmp_path / "config.json"
    path.write_text("old")
    real_mkstemp, real_replace = tempfile.mkstemp, fileio.os.replace

    def mkstemp(*a, **k):
        if where == "create":
            raise _oserror(code)  # a read-only folder: not even a temporary file
        return real_mkstemp(*a, **k)

    def write_bytes(self, data):
        if where == "write":
            Path.write_text(self, "ne")  # half written, then the disk is full
            raise _oserror(code)
        return Path.write_text(self, data.decode())

    def replace(src, dst):
        if where == "rename":
            raise _oserror(code)
        return real_replace(src, dst)

    monkeypatch.setattr(fileio.tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(fileio.Path, "write_bytes", write_bytes)
    monkeypatch.setattr(fileio.os, "replace", replace)
    with pytest.raises(GanforgeError) as e:
        atomic_write_text(path, "new")
    assert str(e.value) == f"could not write '{path}': {reason}; the file's earlier version, if any, is unchanged"
    assert isinstance(e.value, OSError) and e.value.errno == code  # caches that tolerate OSError still do
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]  # no temporary file left


def test_other_errors_pass_through_unchanged(tmp_path):
    with pytest.raises(ZeroDivisionError), fileio.atomic_path(tmp_path / "x"):
        raise ZeroDivisionError
    with pytest.raises(ConnectionResetError), fileio.atomic_path(tmp_path / "x"):  # a network error is no write error
        raise ConnectionResetError(errno.ECONNRESET, "reset")
    assert list(tmp_path.iterdir()) == []


def test_failed_append_names_the_log(tmp_path, monkeypatch):
    path = tmp_path / "log.jsonl"
    path.write_text('{"step": 1}\n')

    class Full:
        def __init__(self, *a, **k):
            pass

        def write(self, text):
            raise _oserror(errno.ENOSPC)

        def close(self):
            pass

    monkeypatch.setattr(fileio, "open", Full, raising=False)
    with pytest.raises(WriteError, match=f"could not write '{path}': No space left on device"), \
            append_text(path) as log:
        log.write('{"step": 2}\n')
    assert path.read_text() == '{"step": 1}\n'


def test_remove_stale_temps_only_removes_temporary_files(tmp_path):
    (tmp_path / ".last.safetensors.abc123.tmp").write_bytes(b"half")
    (tmp_path / "keep.tmp").write_bytes(b"not ours: no leading dot")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / ".x.png.1.tmp").write_bytes(b"below: not touched")
    assert [p.name for p in remove_stale_temps(tmp_path)] == [".last.safetensors.abc123.tmp"]
    assert sorted(p.name for p in tmp_path.rglob("*")) == [".x.png.1.tmp", "keep.tmp", "sub"]


# ---- through training: every file a run writes --------------------------------------------------------------

@pytest.fixture(scope="module")
def two_step_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("writes") / "run"
    cfg = TrainConfig(preset="dcgan-28-fast", dataset="mnist-sample", batch_size=16, extra={"width": 8}, steps=2,
                      log_every=1, grid_every=1, checkpoint_every=1, progress=False, out=str(out))
    Trainer(cfg, log=lambda _: None).train()
    return out


def _snapshot(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


def _inject_fault(monkeypatch, target: str) -> None:
    """Make the next write of the file named ``target`` fail as a full disk (a read-only folder for config)."""
    import ganforge.checkpoint

    real_mkstemp, real_open = tempfile.mkstemp, open
    real_save_file, real_write_bytes = ganforge.checkpoint.save_file, Path.write_bytes

    def mkstemp(*a, prefix="", **k):
        if prefix == f".{target}." and target == "config.json":
            raise _oserror(errno.EROFS)
        return real_mkstemp(*a, prefix=prefix, **k)

    class FullFile:
        def __init__(self, file):
            self._file = file

        def write(self, text):
            raise _oserror(errno.ENOSPC)

        def __getattr__(self, name):
            return getattr(self._file, name)

    def fake_open(file, mode="r", *a, **k):
        f = real_open(file, mode, *a, **k)
        return FullFile(f) if Path(file).name == target and "a" in mode else f  # the log's appends

    def save_file(tensors, filename, metadata=None):
        if Path(filename).name.startswith(f".{target}."):
            Path(filename).write_bytes(b"half a checkpoint")
            raise _oserror(errno.ENOSPC)
        return real_save_file(tensors, filename, metadata=metadata)

    def write_bytes(self, data):
        if self.name.startswith(f".{target}.") and target.endswith(".png"):
            real_write_bytes(self, data[: len(data) // 2])
            raise _oserror(errno.ENOSPC)
        return real_write_bytes(self, data)

    monkeypatch.setattr(fileio.tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(fileio, "open", fake_open, raising=False)
    monkeypatch.setattr(ganforge.checkpoint, "save_file", save_file)
    monkeypatch.setattr(fileio.Path, "write_bytes", write_bytes)


@pytest.mark.parametrize("target", ["config.json", "last.safetensors", "log.jsonl", "step_000003.png"])
def test_a_failed_write_while_training_is_one_line_and_keeps_earlier_files(two_step_run, tmp_path, monkeypatch,
                                                                           capsys, target):
    run = tmp_path / "run"
    shutil.copytree(two_step_run, run)
    before = _snapshot(run)
    _inject_fault(monkeypatch, target)
    assert main(["train", "--resume", str(run), "--steps", "4"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    reason = "Read-only file system" if target == "config.json" else "No space left on device"
    assert err.startswith("ganforge: error: could not write '") and f"{target}': {reason}" in err, err
    after = _snapshot(run)
    for name, data in before.items():
        if name == "log.jsonl":  # steps logged before the failure were appended; the earlier lines stay
            assert after[name].startswith(data)
        elif name == "config.json" and target != name:  # rewritten on purpose (steps: 4), before the failure
            assert b'"steps": 4' in after[name]
        else:
            assert after[name] == data, name
    assert not [p for p in run.rglob(".*.tmp")]  # no half-written file left behind
    monkeypatch.undo()
    assert main(["train", "--resume", str(run), "--steps", "4", "--no-progress"]) == 0  # room again: carries on
    assert b'"step": 4' in (run / "log.jsonl").read_bytes()


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_files_get_the_permissions_a_plain_open_gives_whoever_writes_them(tmp_path, umask):
    import os

    import torch
    from safetensors.torch import save_file

    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
        with fileio.atomic_path(tmp_path / "b.safetensors") as tmp:  # safetensors makes a file of its own
            save_file({"w": torch.zeros(2)}, str(tmp))
        (tmp_path / "plain.txt").write_text("x")
    finally:
        os.umask(old)
    want = (tmp_path / "plain.txt").stat().st_mode & 0o777
    assert want == 0o666 & ~umask
    assert [(tmp_path / n).stat().st_mode & 0o777 for n in ("a.txt", "b.safetensors")] == [want, want]
