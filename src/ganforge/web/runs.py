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
from typing import TYPE_CHECKING, Any, Protocol

import torch

from ..errors import GanforgeError
from ..run.folder import CONFIG_FILE

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


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "run"


class ServedRun:
    """One run behind the API: its id, a lock around the generator, and a small cache of batches.

    The page shows a grid as separate images (each with its own download link); the cache lets those
    per-image requests share one generator call.
    """

    CACHE_SIZE = 16

    def __init__(self, run_id: str, run: RunLike) -> None:
        self.id, self.run = run_id, run
        self._lock = threading.Lock()  # one generator call at a time per model
        self._cache: OrderedDict[tuple, torch.Tensor] = OrderedDict()

    @property
    def num_classes(self) -> int | None:
        return getattr(self.run, "num_classes", None)

    def info(self) -> dict[str, Any]:
        run = self.run
        c, h, w = run.image_shape
        config = getattr(run, "config", None)
        path = getattr(run, "path", None)
        return {
            "id": self.id,
            "name": Path(path).name if path is not None else self.id,
            "preset": getattr(config, "preset", None),
            "dataset": getattr(config, "dataset", None),
            "step": getattr(run, "step", None),
            "image_shape": {"channels": c, "height": h, "width": w},
            "z_dim": run.z_dim,
            "num_classes": self.num_classes,
            "class_names": getattr(run, "class_names", None),
        }

    def generate(self, key: tuple, make) -> torch.Tensor:
        """``make(run)`` under the lock, cached by ``key`` (uint8 N x C x H x W)."""
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            images = make(self.run)
            self._cache[key] = images
            if len(self._cache) > self.CACHE_SIZE:
                self._cache.popitem(last=False)
            return images


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
        served[run_id] = ServedRun(run_id, run)
    if not served:
        raise GanforgeError("no runs to serve")
    return served
