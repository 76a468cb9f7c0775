"""The studio's state: the served runs, the runs it is training, the live watchers, and its roots.

The server reads only inside its roots: run folders by id (the catalog), data folders by a name from the
listing of ``data_root``; a request's value is compared with those lists, never joined to a path as given.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import GanforgeError
from ..run.folder import FINAL_GRID, LAST_CHECKPOINT, LOG_FILE
from .catalog import Catalog
from .forms import FOLDER_PREFIX, NAMED_DATASETS, ResumeRequest, StartRequest
from .jobs import Job, Jobs
from .limits import short
from .live import POLL_S, LiveHub
from .runs import ServedRun

ACTIVE_S = 60.0  # a run folder written to this recently, by a process not ours, counts as training


class Refused(GanforgeError):
    """A request the studio turns down: ``status`` (409, 422, 404) and one line naming why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class StudioOptions:
    runs_root: Path | None = None  # where runs started from the page go; None: the page cannot start runs
    data_root: Path | None = None  # the folders listed as datasets (and mnist/, fashion-mnist/ when there)
    max_runs: int = 1  # runs training at once
    device: str | None = None  # for the children, and for sampling
    poll_s: float = POLL_S
    allowed_hosts: tuple[str, ...] | None = None  # Host names a POST may carry (None: any)


class Studio:
    def __init__(self, catalog: Catalog, options: StudioOptions) -> None:
        self.catalog, self.options = catalog, options
        self.jobs = Jobs(max_runs=options.max_runs, device=options.device)
        self.hub = LiveHub(poll_s=options.poll_s)

    def get(self, run_id: str) -> ServedRun:
        sr = self.catalog.get(run_id)
        if sr is None:
            raise Refused(404, f"no run {short(run_id)}; served runs: {', '.join(self.catalog.ids())}")
        return sr

    # ---- what a run is doing -----------------------------------------------------------------------------

    def status(self, sr: ServedRun) -> dict[str, Any]:
        """training, stopping, stopped, finished, failed (a run of ours); training, stopped or finished as far as
        the folder tells (a run from a terminal, Python or torchrun); ready (a generator without a folder)."""
        job = self.jobs.get(sr.id)
        if sr.folder is None:
            return {"state": "ready", "ours": False}
        folder = sr.folder
        out: dict[str, Any] = {"has_checkpoint": (folder / LAST_CHECKPOINT).is_file()}
        try:
            out["steps"] = sr.config().steps
        except (GanforgeError, OSError):
            out["steps"] = sr.pending.get("steps")
        if job is not None:
            return {**out, **job.describe(), "ours": True}
        written = self._last_written(folder)
        try:  # the final grid is the trainer's last write: newer than the log, the run has finished
            if (folder / FINAL_GRID).stat().st_mtime >= written:
                return {**out, "state": "finished", "ours": False}
        except OSError:
            pass
        return {**out, "state": "training" if time.time() - written < ACTIVE_S else "stopped", "ours": False}

    @staticmethod
    def _last_written(folder: Path) -> float:
        newest = 0.0
        for name in (LOG_FILE, LAST_CHECKPOINT):
            try:
                newest = max(newest, (folder / name).stat().st_mtime)
            except OSError:
                pass
        return newest

    # ---- datasets ------------------------------------------------------------------------------------------

    def data_folders(self) -> list[str]:
        """The sub-folders of the data root (not hidden, not the named datasets' own files)."""
        root = self.options.data_root
        if root is None or not root.is_dir():
            return []
        return sorted(p.name for p in root.iterdir()
                      if p.is_dir() and not p.name.startswith(".") and p.name not in NAMED_DATASETS)

    def datasets(self) -> dict[str, Any]:
        from ..data.registry import DATASETS

        named = [{"name": n, "description": DATASETS[n].description} for n in NAMED_DATASETS]
        return {"named": named, "folders": [FOLDER_PREFIX + n for n in self.data_folders()]}

    def _dataset_args(self, dataset: str) -> list[str]:
        root = self.options.data_root
        if dataset.startswith(FOLDER_PREFIX):
            name = dataset.removeprefix(FOLDER_PREFIX)
            folders = self.data_folders()
            if name not in folders:  # compared with the listing: never a path from the request
                listed = ", ".join(FOLDER_PREFIX + f for f in folders) or "none (start the server with --data-root DIR)"
                raise Refused(422, f"body parameter 'dataset': {dataset[:60]!r} is not a folder of the data root; "
                                   f"choose one of: {listed}")
            return ["--dataset", f"{FOLDER_PREFIX}{root / name}"]
        args = ["--dataset", dataset]
        if root is not None and (root / dataset).is_dir():  # the data root in --data-dir's layout
            args += ["--data-dir", str(root)]
        return args

    # ---- start, stop, resume -------------------------------------------------------------------------------

    def _check_capacity(self) -> None:
        active = self.jobs.active()
        if len(active) >= self.options.max_runs:
            names = ", ".join(j.run_id for j in active)
            raise Refused(409, f"{len(active)} run(s) already training ({names}) and this server trains at most "
                               f"{self.options.max_runs} at once; stop one first, or start the server with "
                               f"--max-runs N")

    def _new_folder(self, req: StartRequest) -> Path:
        root = self.options.runs_root
        if req.name:
            folder = root / req.name
            if folder.exists():
                raise Refused(409, f"body parameter 'name': a run folder {req.name!r} already exists in the runs "
                                   f"root; pick another name")
            return folder
        data = re.sub(r"[^A-Za-z0-9._-]+", "-", req.dataset.removeprefix(FOLDER_PREFIX)).strip("-.") or "data"
        base = f"{req.preset}-{data}-{datetime.now():%Y%m%d-%H%M%S}"
        folder, k = root / base, 2
        while folder.exists():
            folder, k = root / f"{base}-{k}", k + 1
        return folder

    def start(self, req: StartRequest) -> ServedRun:
        from ..config import TrainConfig

        if self.options.runs_root is None:
            raise Refused(409, "this server was started without a runs root; it cannot start runs")
        self._check_capacity()
        dataset_args = self._dataset_args(req.dataset)
        try:  # the config's own checks (ranges, combinations), before a process is started
            TrainConfig.from_dict({**req.train_fields(), "dataset": "mnist-sample"}, source="the form")
        except GanforgeError as e:
            raise Refused(422, str(e)) from None
        folder = self._new_folder(req)
        args = ["train", "--preset", req.preset, *dataset_args, "--steps", str(req.steps), "--out", str(folder),
                "--no-progress"]
        for name in ("batch_size", "width", "lr_g", "lr_d", "seed", "eval_every", "log_every", "grid_every"):
            value = getattr(req, name)
            if value is not None:
                args += ["--" + name.replace("_", "-"), str(value)]
        folder.mkdir(parents=True)
        sr = self.catalog.add_folder(folder)
        sr.pending = {"preset": req.preset, "dataset": req.dataset, "steps": req.steps}  # until config.json
        self.jobs.launch(sr.id, folder, args, "train")
        return sr

    def resume(self, sr: ServedRun, req: ResumeRequest) -> Job:
        from ..checkpoint import Checkpoint

        if sr.folder is None:
            raise Refused(409, f"'{sr.id}' is a generator without a run folder; only run folders can be resumed")
        state = self.status(sr)["state"]
        if state in ("training", "stopping"):
            raise Refused(409, f"run '{sr.id}' is {state}; stop it (and let it stop) before resuming it")
        self._check_capacity()
        ckpt = sr.folder / LAST_CHECKPOINT
        if not ckpt.is_file():
            raise Refused(409, f"run '{sr.id}' has no checkpoint to resume from (it stopped before its first one)")
        at = int(Checkpoint(ckpt).meta.get("step", 0))
        if req.steps <= at:
            raise Refused(422, f"body parameter 'steps': run '{sr.id}' is at step {at}; give a total of more than "
                               f"{at} (got {req.steps})")
        args = ["train", "--resume", str(sr.folder), "--steps", str(req.steps), "--no-progress"]
        return self.jobs.launch(sr.id, sr.folder, args, "resume")

    def stop(self, sr: ServedRun) -> Job:
        job = self.jobs.get(sr.id)
        if job is None:
            raise Refused(409, f"run '{sr.id}' was not started by this server; stop it where it runs (Ctrl-C, or "
                               f"SIGTERM to its process)")
        if not job.running:
            raise Refused(409, f"run '{sr.id}' is not training ({job.state()})")
        self.jobs.stop(sr.id)
        return job

    def shutdown(self) -> None:
        self.hub.close()
        self.jobs.shutdown()
