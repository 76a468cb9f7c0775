"""Training runs started from the page: each a child process running ``python -m ganforge train ...``.

The same code path as ``ganforge train`` in a terminal, so a run started here is an ordinary run folder. The
child's output (stdout and stderr) goes to ``RUN_DIR/output.log``; Stop sends SIGTERM, on which the trainer
finishes its step, checkpoints and exits; Resume runs ``ganforge train --resume RUN_DIR --steps N``. Children
never outlive the server: it stops them when it shuts down, and on Linux the kernel sends them SIGTERM if the
server dies without a chance to (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..run.folder import OUTPUT_FILE

STOPPED_CODES = (130, -signal.SIGTERM, 128 + signal.SIGTERM)  # the trainer's own exit after SIGTERM, or killed by it
TAIL_BYTES = 4096  # of output.log, to say why a run failed


@dataclass
class Job:
    """One child process and what it is doing to which run folder."""

    run_id: str
    folder: Path
    command: list[str]
    proc: subprocess.Popen
    action: str  # "train" or "resume"
    started: float = field(default_factory=time.time)
    stop_requested: bool = False

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def state(self) -> str:
        """training, stopping, finished, stopped or failed."""
        code = self.proc.poll()
        if code is None:
            return "stopping" if self.stop_requested else "training"
        if code == 0:
            return "finished"
        return "stopped" if code in STOPPED_CODES else "failed"

    def describe(self) -> dict:
        code = self.proc.poll()
        out = {"state": self.state(), "action": self.action, "pid": self.proc.pid, "returncode": code,
               "started": self.started, "command": shlex.join(["ganforge", *self.command[3:]])}
        if out["state"] == "failed":
            out["message"] = last_error_line(self.folder / OUTPUT_FILE)
        return out


def last_error_line(path: Path) -> str:
    """The last non-empty line of a child's output (ganforge's one-line errors are written last)."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - TAIL_BYTES))
            lines = [ln.strip() for ln in f.read().decode("utf-8", "replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


_PRCTL = None
if sys.platform == "linux":
    with contextlib.suppress(OSError, AttributeError):
        _PRCTL = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: the child must not load libraries


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: ask the kernel for SIGTERM when the thread that started it (the
    # server's event loop) goes away, so that not even a killed server leaves a training run behind.
    if _PRCTL is not None:
        _PRCTL(1, int(signal.SIGTERM))  # 1 = PR_SET_PDEATHSIG


class Jobs:
    """The children of one server: at most ``max_runs`` training at once."""

    def __init__(self, max_runs: int = 1, device: str | None = None, python: str = sys.executable) -> None:
        self.max_runs, self.device, self.python = max_runs, device, python
        self.jobs: dict[str, Job] = {}  # the latest job of each run id
        self._lock = threading.Lock()

    def active(self) -> list[Job]:
        return [j for j in self.jobs.values() if j.running]

    def get(self, run_id: str) -> Job | None:
        return self.jobs.get(run_id)

    def launch(self, run_id: str, folder: Path, args: list[str], action: str) -> Job:
        """Start ``ganforge ARGS`` writing into ``folder``; the caller has checked the limits."""
        folder.mkdir(parents=True, exist_ok=True)
        command = [self.python, "-m", "ganforge", *args]
        if self.device and "--device" not in args:
            command += ["--device", self.device]
        with open(folder / OUTPUT_FILE, "ab") as out:
            out.write(f"$ {shlex.join(['ganforge', *command[3:]])}\n".encode())
            out.flush()
            proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True,  # Ctrl-C in the server's terminal is the server's
                                    preexec_fn=_die_with_parent if _PRCTL is not None else None)
        job = Job(run_id, folder, command, proc, action)
        with self._lock:
            self.jobs[run_id] = job
        return job

    def stop(self, run_id: str) -> Job | None:
        job = self.jobs.get(run_id)
        if job is None or not job.running:
            return None
        job.stop_requested = True
        with contextlib.suppress(ProcessLookupError):
            job.proc.send_signal(signal.SIGTERM)
        return job

    def shutdown(self, timeout_s: float = 30.0) -> None:
        """Stop every child (SIGTERM: they checkpoint), wait for them, and kill any still there after the wait."""
        running = [j for j in self.jobs.values() if j.running]
        for job in running:
            self.stop(job.run_id)
        deadline = time.monotonic() + timeout_s
        for job in running:
            try:
                job.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                job.proc.kill()
                job.proc.wait()
