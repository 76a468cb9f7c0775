"""The runs a studio serves: found from the command line's folders, addressed by id, never by path.

A request names a run by the id in the server's own list, so no part of a request ever becomes a
file path: nothing outside the served run folders can be reached through the API.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Protocol

import torch

from ..errors import GanforgeError
from ..models.clusters import sampling_z_dim
from ..run.folder import CONFIG_FILE, checkpoint_path, is_run_folder, read_config
from ..run.pretrained import is_pretrained_folder

if TYPE_CHECKING:
    from ..run import Run


class RunLike(Protocol):
    """What the studio needs of a run; :class:`ganforge.run.Run` is one, a test can pass a fake."""

    @property
    def image_shape(self) -> tuple[int, int, int]: ...

    @property
    def z_dim(self) -> int: ...

    @property
    def num_classes(self) -> int | None: ...

    def noise(self, n: int, seed: int = 0) -> torch.Tensor: ...

    def generate(self, n: int, *, seed: int = 0, labels: torch.Tensor | None = None,
                 z: torch.Tensor | None = None) -> torch.Tensor: ...


def find_run_dirs(paths: Iterable[str | Path]) -> list[Path]:
    """Each path is a run folder, or a folder whose sub-folders include run folders (e.g. ``runs/``)."""
    found: list[Path] = []
    for p in map(Path, paths):
        if not p.is_dir():
            raise GanforgeError(f"run folder '{p}' does not exist")
        if (p / CONFIG_FILE).is_file():
            found.append(p)
            continue
        children = sorted(c for c in p.iterdir() if c.is_dir() and (c / CONFIG_FILE).is_file())
        if not children:
            raise GanforgeError(f"'{p}' is not a run folder (no {CONFIG_FILE}) and holds no run folders")
        found.extend(children)
    return found


def load_runs(paths: Iterable[str | Path], *, checkpoint: str = "last", device: str | None = None,
              note: Callable[[str], None] = print) -> list[Run]:
    """Load the runs of :func:`find_run_dirs`. A run folder named outright must load; one found inside
    a parent folder that cannot (e.g. still training, no checkpoint yet) is skipped with a note."""
    from ..run import load_run

    runs = []
    for p in map(Path, paths):
        dirs = find_run_dirs([p])
        if dirs == [p]:
            runs.append(load_run(p, checkpoint=checkpoint, device=device))
            continue
        loaded = 0
        for d in dirs:
            try:
                runs.append(load_run(d, checkpoint=checkpoint, device=device))
                loaded += 1
            except GanforgeError as e:
                note(f"skipping {d}: {e}")
        if not loaded:
            raise GanforgeError(f"none of the run folders in '{p}' could be loaded (see above)")
    return runs


def is_training_folder(path: str | Path | None) -> bool:
    """A run folder that training wrote (config.json, log, grids), not a pretrained folder."""
    if path is None:
        return False
    path = Path(path)
    return is_run_folder(path) and ((path / "checkpoints").is_dir() or not is_pretrained_folder(path))


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "run"


class NotReady(GanforgeError):
    """A run folder that has nothing to sample yet (still before its first checkpoint)."""


class ServedRun:
    """One run behind the API: its id, a lock around the generator, and a small cache of batches.

    ``run`` is a loaded generator (fixed), or ``folder`` a run folder whose last checkpoint is loaded on
    demand and again whenever training writes a newer one, so a run in progress samples its latest state.
    The page shows a grid as separate images (each with its own download link); the cache lets those
    per-image requests share one generator call.
    """

    CACHE_SIZE = 16

    def __init__(self, run_id: str, run: RunLike | None = None, *, folder: Path | None = None,
                 kind: str = "run", checkpoint: str = "last", device: str | None = None) -> None:
        if run is None and folder is None:
            raise ValueError("a served run needs a loaded run or a run folder")
        self.id, self.kind, self.folder = run_id, kind, folder
        self._run, self._fixed = run, run is not None
        self._checkpoint, self._device = checkpoint, device
        self._stamp: tuple | None = None
        self._step: tuple[tuple, int] | None = None
        self._lock = threading.Lock()  # one generator call (or load) at a time per model
        self._cache: OrderedDict[tuple, torch.Tensor] = OrderedDict()
        self._config: tuple[int, Any] | None = None  # (config.json's mtime_ns, RunConfig)
        self.pending: dict[str, Any] = {}  # what a run started from the page asked for, until its config.json
        if folder is None and is_training_folder(getattr(run, "path", None)):
            self.folder = Path(run.path)  # a loaded run folder: its log and grids are watched too

    # ---- the generator -----------------------------------------------------------------------------------

    def _checkpoint_stamp(self) -> tuple | None:
        try:
            st = checkpoint_path(self.folder, self._checkpoint).stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def _current(self) -> RunLike:
        """The generator, (re)loaded from the folder's checkpoint when training has written a new one."""
        if self._fixed:
            return self._run
        stamp = self._checkpoint_stamp()
        if stamp is None:
            raise NotReady(f"run '{self.id}' has no '{self._checkpoint}' checkpoint yet; it can be sampled after "
                           f"its first checkpoint")
        if stamp != self._stamp:
            from ..run import load_run

            self._run, self._stamp = load_run(self.folder, checkpoint=self._checkpoint, device=self._device), stamp
            self._cache.clear()
        return self._run

    @property
    def run(self) -> RunLike:
        with self._lock:
            return self._current()

    def checkpoint_step(self) -> int | None:
        """The step of the folder's checkpoint (read from its header, again only when the file changes)."""
        stamp = self._checkpoint_stamp() if self.folder is not None else None
        if stamp is None:
            return None
        if self._step is None or self._step[0] != stamp:
            from ..checkpoint import Checkpoint

            try:
                meta = Checkpoint(checkpoint_path(self.folder, self._checkpoint)).meta
                self._step = (stamp, int(meta.get("step", 0)))
            except GanforgeError:  # replaced while being read: the next look reads the new one
                return None
        return self._step[1]

    @property
    def has_generator(self) -> bool:
        return self._fixed or self._checkpoint_stamp() is not None

    def generate(self, key: tuple, make) -> torch.Tensor:
        """``make(run)`` under the lock, cached by ``key`` (uint8 N x C x H x W)."""
        with self._lock:
            run = self._current()
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            images = make(run)
            self._cache[key] = images
            if len(self._cache) > self.CACHE_SIZE:
                self._cache.popitem(last=False)
            return images

    # ---- what the page shows -----------------------------------------------------------------------------

    def config(self) -> Any:
        """The run's ``RunConfig``: the loaded run's, or the folder's config.json (read again when it changes)."""
        if self._fixed:
            return getattr(self._run, "config", None)
        mtime = (self.folder / CONFIG_FILE).stat().st_mtime_ns
        if self._config is None or self._config[0] != mtime:
            self._config = (mtime, read_config(self.folder))
        return self._config[1]

    @property
    def num_classes(self) -> int | None:
        if self._fixed or self._run is not None:
            return getattr(self._run, "num_classes", None)
        if not (self.folder / CONFIG_FILE).is_file():
            return None
        cfg = self.config()
        return cfg.num_classes if cfg.conditional else None

    def info(self) -> dict[str, Any]:
        if self._fixed or self._run is not None:
            run = self._run
            c, h, w = run.image_shape
            config = getattr(run, "config", None)
            step, z_dim, names = getattr(run, "step", None), run.z_dim, getattr(run, "class_names", None)
            if not self._fixed:
                step = self.checkpoint_step()  # training may have written a newer one since it was loaded
        elif (self.folder / CONFIG_FILE).is_file():  # not loaded (no checkpoint yet, or not asked for yet)
            config = self.config()
            c, h, w = config.channels, config.resolution, config.resolution
            step, z_dim = self.checkpoint_step(), sampling_z_dim(config.z_dim, config.clusters)
            names = [str(x) for x in config.class_names] if config.conditional and config.class_names else None
        else:  # started a moment ago: the trainer has not written its config yet
            from ..presets import get_preset

            preset = self.pending.get("preset")
            config = SimpleNamespace(preset=preset, dataset=self.pending.get("dataset"))
            c, h, w = get_preset(preset).image_shape if preset else (None, None, None)
            step = z_dim = names = None
        path = getattr(self._run, "path", None) if self._run is not None else self.folder
        return {
            "id": self.id,
            "name": getattr(self._run, "shipped", None) or (Path(path).name if path is not None else self.id),
            "kind": self.kind,
            "preset": getattr(config, "preset", None),
            "dataset": getattr(config, "dataset", None),
            "step": step,
            "image_shape": {"channels": c, "height": h, "width": w},
            "z_dim": z_dim,
            "num_classes": self.num_classes,
            "class_names": names,
            "has_generator": self.has_generator,
            "has_log": self.folder is not None,
        }


def serve_runs(runs: Mapping[str, RunLike] | Sequence[RunLike]) -> dict[str, ServedRun]:
    """Give each run an id: the mapping's keys, or the run folder's name (made unique)."""
    items = list(runs.items()) if isinstance(runs, Mapping) else [
        (Path(getattr(r, "path", f"run-{i}")).name, r) for i, r in enumerate(runs)]
    served: dict[str, ServedRun] = {}
    for name, run in items:
        base = _slug(str(name))
        run_id, k = base, 2
        while run_id in served:
            run_id, k = f"{base}-{k}", k + 1
        path = getattr(run, "path", None)
        shipped = path is not None and is_pretrained_folder(path) and not is_training_folder(path)
        kind = "pretrained" if shipped else "run"
        served[run_id] = ServedRun(run_id, run, kind=kind)
    if not served:
        raise GanforgeError("no runs to serve")
    return served
