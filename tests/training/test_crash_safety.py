"""Crash safety: a training process killed at any moment, even mid-checkpoint, resumes exactly.

Each kill is a real SIGKILL of a real process running ``ganforge train`` (the CLI's ``main``). The processes
are forked from this one so that each costs milliseconds instead of the seconds of importing torch again.
In the children every checkpoint write pauses half-way, tells this process through a pipe and waits for a
go-ahead: a kill "during the k-th checkpoint write" then lands exactly there, with half a file on disk.
The other kills come after seeded random delays and land wherever they land (start-up, the log, grids...).
"""

from __future__ import annotations

import os
import random
import select
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from ganforge.checkpoint import Checkpoint
from ganforge.cli import main
from ganforge.run import load_run

STEPS = 40  # the length of every run here
KILLS = 20
SEED = int(os.environ.get("GANFORGE_CRASH_SEED", "20261123"))  # another seed: other kill points, for soak runs
CONFIG = """\
preset = "dcgan-28-fast"
dataset = "mnist-sample"
batch_size = 16
checkpoint_every = 1
grid_every = 1000
log_every = 1
extra = { width = 8 }
"""

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


@dataclass
class Child:
    pid: int
    events: int | None  # read end: one byte per paused checkpoint write
    go: int | None  # write end: one byte lets a paused write finish
    log: Path


def fork_cli(argv: list[str], log: Path, *, pause_writes: bool) -> Child:
    """Run ``ganforge ARGV`` in a forked child process."""
    ev_r, ev_w = os.pipe() if pause_writes else (None, None)
    go_r, go_w = os.pipe() if pause_writes else (None, None)
    log.touch()  # a child killed before it opens its log still has one
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        rc = 70
        try:
            sys.stdout = sys.stderr = open(log, "a", buffering=1)
            torch.set_num_threads(1)
            if pause_writes:
                os.close(ev_r)
                os.close(go_w)
                _pause_checkpoint_writes(ev_w, go_r)
            rc = main(argv)
        except BaseException as e:  # noqa: B036 - report anything, then leave without running pytest's code
            print(f"child failed: {type(e).__name__}: {e}", file=sys.stderr)
        finally:
            sys.stdout.flush()
            os._exit(rc)
    if pause_writes:
        os.close(ev_w)
        os.close(go_r)
    return Child(pid, ev_r, go_w, log)


def _pause_checkpoint_writes(events: int, go: int) -> None:
    import safetensors.torch

    import ganforge.checkpoint

    def paused_save_file(tensors, filename, metadata=None):
        data = safetensors.torch.save(tensors, metadata=metadata)
        with open(filename, "wb") as f:
            f.write(data[: len(data) // 2])
            f.flush()
            os.write(events, b"w")  # half a checkpoint is on disk now
            os.read(go, 1)  # the parent kills us here, or lets the write finish
            f.write(data[len(data) // 2:])

    ganforge.checkpoint.save_file = paused_save_file


def drive(child: Child, *, kill_at_write: int | None = None, kill_after: float | None = None,
          send: int = signal.SIGKILL, timeout: float = 120.0) -> int:
    """Let the child's writes through until the kill point; return its wait status."""
    start = time.monotonic()
    deadline = None if kill_after is None else start + kill_after
    writes, sent = 0, False
    while True:
        now = time.monotonic()
        assert now - start < timeout, f"child {child.pid} hung; its output: {child.log.read_text()}"
        if not sent and deadline is not None and now >= deadline:
            os.kill(child.pid, send)
            sent = True
        if sent and send == signal.SIGKILL:
            break
        pid, status = os.waitpid(child.pid, os.WNOHANG)
        if pid:
            _close(child)
            return status
        wait = 0.01 if deadline is None or sent else max(0.0, min(0.01, deadline - now))
        if child.events is not None and select.select([child.events], [], [], wait)[0]:
            if not os.read(child.events, 1):
                continue  # the child closed the pipe: it is exiting
            writes += 1
            if not sent and writes == kill_at_write:
                os.kill(child.pid, send)
                sent = True
                if send == signal.SIGKILL:
                    break
            try:
                os.write(child.go, b"g")
            except BrokenPipeError:
                pass
        elif child.events is None:
            time.sleep(wait)
    _, status = os.waitpid(child.pid, 0)
    _close(child)
    return status


def _close(child: Child) -> None:
    for fd in (child.events, child.go):
        if fd is not None:
            os.close(fd)
    child.events = child.go = None


def tensors(run_dir: Path) -> dict[str, torch.Tensor]:
    with safe_open(str(run_dir / "checkpoints" / "last.safetensors"), "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}


def temp_files(run_dir: Path) -> list[Path]:
    return sorted(run_dir.rglob(".*.tmp")) if run_dir.exists() else []


def logged_steps(run_dir: Path) -> list[int]:
    import json

    return [json.loads(line)["step"] for line in (run_dir / "log.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    root = tmp_path_factory.mktemp("crash")
    (root / "c.toml").write_text(CONFIG)
    return root


@pytest.fixture(scope="module")
def reference(work):
    """The uninterrupted run, started in the background while a test kills its own runs."""
    child = fork_cli(fresh_argv(work, work / "reference"), work / "reference.log", pause_writes=False)
    result: dict[str, dict[str, torch.Tensor]] = {}

    def weights() -> dict[str, torch.Tensor]:
        if not result:
            status = drive(child)
            assert os.waitstatus_to_exitcode(status) == 0, (work / "reference.log").read_text()
            result["w"] = tensors(work / "reference")
        return result["w"]

    return weights


def fresh_argv(work: Path, out: Path) -> list[str]:
    return ["train", "--config", str(work / "c.toml"), "--steps", str(STEPS), "--out", str(out), "--no-progress"]


def resume_argv(out: Path) -> list[str]:
    return ["train", "--resume", str(out), "--steps", str(STEPS), "--no-progress"]


def assert_same_as_reference(out: Path, reference, *, finished: bool = True) -> None:
    got, want = tensors(out), reference()
    assert got.keys() == want.keys()
    for key in want:  # weights, both optimisers, and the RNG states: bit for bit
        assert torch.equal(got[key], want[key]), key
    assert logged_steps(out) == list(range(1, STEPS + 1))  # no step lost, none logged twice
    if finished:
        assert temp_files(out) == []  # the resume cleared what the killed writes left


def test_sigkill_at_random_moments_always_resumes_exactly(work, reference, capsys):
    rng = random.Random(SEED)
    out, chains, prev_step = work / "kill-0", 0, 0
    kills: list[tuple[str, int | None, bool]] = []  # (where, checkpoint step after the kill, temp file seen)
    refused, i, final = 0, -1, False
    while not final:  # KILLS kills (a leg that finishes before its kill point does not count), then a last leg
        i += 1
        assert i < 3 * KILLS, kills
        final = len(kills) == KILLS
        last = out / "checkpoints" / "last.safetensors"
        if last.is_file() and prev_step == STEPS:  # killed after the last step's checkpoint: training is done
            had_final = (out / "final_grid.png").is_file()
            code = main(resume_argv(out))
            err = capsys.readouterr().err
            if had_final:  # nothing left to do
                assert code == 2 and err.count("\n") == 1 and f"already at step {STEPS}" in err, err
            else:  # the resume writes the final grid and plot that the kill cut off
                assert code == 0, err
                assert (out / "final_grid.png").is_file() and (out / "losses.png").is_file()
            assert_same_as_reference(out, reference, finished=False)
            chains += 1
            out, prev_step = work / f"kill-{i}-done", 0
            last = out / "checkpoints" / "last.safetensors"
        if last.is_file():
            argv = resume_argv(out)
        else:
            if out.exists():  # killed before its first complete checkpoint: resume says so in one line
                assert main(resume_argv(out)) == 2
                err = capsys.readouterr().err
                assert err.count("\n") == 1 and "Traceback" not in err
                assert "no checkpoint to resume from" in err or "no config.json" in err, err
                refused += 1
                shutil.rmtree(out)
            argv, prev_step = fresh_argv(work, out), 0
        child = fork_cli(argv, work / f"leg-{i}.log", pause_writes=True)
        if final:  # the last leg runs to the end
            status = drive(child)
        elif i == 0 or rng.random() < 0.5:
            where = 1 if i == 0 else rng.randint(1, 3)  # leg 0: during the very first checkpoint
            status = drive(child, kill_at_write=where)
            kills.append((f"checkpoint write {where}", None, False))
        else:
            delay = rng.uniform(0.0, 1.0)  # start-up, steps, log lines, grids
            status = drive(child, kill_after=delay)
            kills.append((f"{delay:.3f} s", None, False))
        log = (work / f"leg-{i}.log").read_text()
        if os.WIFEXITED(status):  # finished before the kill point (or the last leg): compare, start anew
            assert os.WEXITSTATUS(status) == 0, log
            if not final:
                kills.pop()
            assert_same_as_reference(out, reference)
            chains += 1
            out, prev_step = work / f"kill-{i + 1}", 0
            continue
        assert os.WTERMSIG(status) == signal.SIGKILL
        temps = [p.name for p in temp_files(out)]
        if kills[-1][0].startswith("checkpoint"):  # the kill landed mid-write: half a file is on disk
            assert any(name.startswith(".last.safetensors.") for name in temps), (temps, log)
        if last.is_file():  # whatever is under the final name is a complete, loadable checkpoint
            step = Checkpoint(last).meta["step"]
            assert prev_step <= step <= STEPS
            assert load_run(out, device="cpu").step == step
            prev_step = step
        kills[-1] = (kills[-1][0], prev_step if last.is_file() else None, bool(temps))
    assert chains >= 1
    assert len(kills) == KILLS, kills
    assert refused >= 1  # leg 0 was killed inside the first checkpoint write
    assert sum(1 for where, _, temp in kills if where.startswith("checkpoint") and temp) >= 5, kills


def test_sigint_checkpoints_exits_130_and_cli_resume_continues_exactly(work, reference):
    out = work / "sigint"
    child = fork_cli(fresh_argv(work, out), work / "sigint.log", pause_writes=True)
    # SIGINT while the third checkpoint is half written: the step finishes, a checkpoint is saved, then exit.
    status = drive(child, kill_at_write=3, send=signal.SIGINT)
    log = (work / "sigint.log").read_text()
    assert os.waitstatus_to_exitcode(status) == 130, log
    assert "stopped by SIGINT at step 3; checkpoint saved" in log and f"ganforge train --resume {out}" in log
    assert Checkpoint(out / "checkpoints" / "last.safetensors").meta["step"] == 3
    assert temp_files(out) == []
    assert "Traceback" not in log
    status = drive(fork_cli(resume_argv(out), work / "sigint-resume.log", pause_writes=False))
    resumed = (work / "sigint-resume.log").read_text()
    assert os.waitstatus_to_exitcode(status) == 0, resumed
    assert f"resuming {out} at step 3 of {STEPS}" in resumed
    assert_same_as_reference(out, reference)
