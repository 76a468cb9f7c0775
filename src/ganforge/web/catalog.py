"""Every run a studio serves, by id: runs handed to it, run folders (named on the command line, found in the
runs root, started from the page) and the generators that ship with ganforge.

The runs root is looked at again whenever the list is asked for, so a run started from a terminal shows up
without restarting the server. Ids are the folder's name (made unique) or ``pretrained:NAME``; a request
only ever names an id from this list.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from ..errors import GanforgeError
from ..run.shipped import PREFIX
from .runs import RunLike, ServedRun, _slug, is_training_folder, serve_runs


class Catalog:
    """The served runs. ``runs``: loaded runs (or look-alikes), fixed; ``folders``: run folders, loaded on demand
    from their latest checkpoint; ``runs_root``: a folder whose run folders are listed too (when ``scan_root``)."""

    def __init__(self, runs: Mapping[str, RunLike] | Sequence[RunLike] = (), *, folders: Iterable[Path] = (),
                 pretrained: Iterable[str] = (), runs_root: Path | None = None, scan_root: bool = False,
                 checkpoint: str = "last", device: str | None = None,
                 note: Callable[[str], None] = lambda line: None) -> None:
        self.served: dict[str, ServedRun] = dict(serve_runs(runs)) if len(runs) else {}
        self.runs_root, self.scan_root = runs_root, scan_root
        self._checkpoint, self._device, self._note = checkpoint, device, note
        self._lock = threading.Lock()  # the list changes from request threads (refresh) and the event loop
        self._folders: dict[Path, str] = {}
        self._skipped: set[Path] = set()
        for sr in self.served.values():
            if sr.folder is not None:
                self._folders[sr.folder.resolve()] = sr.id
        for name in pretrained:
            self.add_pretrained(name)
        for folder in folders:
            self.add_folder(folder)
        self.refresh()

    def add_pretrained(self, name: str) -> ServedRun:
        from ..run import load_run

        run_id = PREFIX + name.removeprefix(PREFIX)
        with self._lock:
            if run_id not in self.served:
                self.served[run_id] = ServedRun(run_id, load_run(run_id, device=self._device), kind="pretrained")
            return self.served[run_id]

    def add_folder(self, folder: Path) -> ServedRun:
        """Serve a run folder (once: the same folder again is the same run)."""
        key = Path(folder).resolve()
        with self._lock:
            if key in self._folders and self._folders[key] in self.served:
                return self.served[self._folders[key]]
            base = _slug(Path(folder).name)
            run_id, k = base, 2
            while run_id in self.served:
                run_id, k = f"{base}-{k}", k + 1
            sr = ServedRun(run_id, folder=Path(folder), checkpoint=self._checkpoint, device=self._device)
            self.served[run_id] = sr
            self._folders[key] = run_id
            return sr

    def refresh(self) -> None:
        """Pick up run folders that appeared in the runs root, and drop folder runs whose folder is gone."""
        with self._lock:
            gone = [rid for rid, sr in self.served.items()
                    if sr.folder is not None and not sr._fixed and not sr.folder.is_dir()]
            for rid in gone:
                self._folders.pop(self.served.pop(rid).folder.resolve(), None)
        root = self.runs_root
        if not (self.scan_root and root is not None and root.is_dir()):
            return
        for child in sorted(root.iterdir()):
            if child.resolve() in self._folders or child in self._skipped or not is_training_folder(child):
                continue
            try:
                self.add_folder(child).config()  # a config that cannot be read is skipped, once, with a note
            except (GanforgeError, OSError) as e:
                self._skipped.add(child)
                with self._lock:
                    self.served.pop(self._folders.pop(child.resolve(), ""), None)
                self._note(f"skipping {child}: {e}")

    def get(self, run_id: str) -> ServedRun | None:
        if run_id not in self.served:
            self.refresh()
        return self.served.get(run_id)

    def ids(self) -> list[str]:
        return list(self.served)

    def all(self) -> list[ServedRun]:
        """Shipped generators first, then the others in the order they were added."""
        runs = list(self.served.values())
        return [r for r in runs if r.kind == "pretrained"] + [r for r in runs if r.kind != "pretrained"]
