"""Live training events: one watcher per run folder tails ``log.jsonl`` and ``grids/``, every page gets its events.

A watcher polls (every ``poll_s``; no inotify, so it works on any file system and for runs written by any
process: the CLI, Python, rank 0 under torchrun, a child of this server). Each poll costs a few ``stat`` calls
and reads only the bytes appended since the last one; 20 pages watching a run share the one reader.

Events, as server-sent events (``id``, ``event``, ``data`` = one JSON object):

- ``history``: everything so far, ``{"records": [...], "grids": [...], "status": {...}}``; the page replaces
  what it has with it. The first event of a new connection, and sent again when the log is rewritten (a
  resume drops the lines after its checkpoint);
- ``log``: one training record (step, losses, D(x), D(G(z)), images/s...); ``eval``: one evaluation record;
- ``grid``: a fixed-noise grid was written, ``{"step": N, "url": ...}``;
- ``status``: the run's state changed (training, stopping, stopped, finished, failed...).

Ids are ``TOKEN.SEQ``: a reconnect (EventSource sends ``Last-Event-ID``) with this watcher's token gets the
events after SEQ and nothing twice; any other id (another server, or from before a rewrite) gets a history.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..run.folder import GRIDS_DIR, LOG_FILE

POLL_S = 0.2  # how often a watched run's files are looked at
KEEPALIVE_S = 15.0  # a comment line when nothing happened, so proxies and browsers keep the stream open
QUEUE_BATCHES = 1000  # a page this far behind is dropped; its EventSource reconnects and catches up
_GRID = re.compile(r"^step_(\d+)\.png$")


@dataclass(frozen=True)
class Event:
    seq: int
    kind: str
    data: dict

    def encode(self, token: str) -> bytes:
        return f"id: {token}.{self.seq}\nevent: {self.kind}\ndata: {json.dumps(self.data)}\n\n".encode()


class LogTail:
    """Reads the complete lines appended to a log since the last read; notices a rewritten log."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset, self.inode, self.partial = path, 0, None, b""

    def read(self) -> tuple[bool, list[dict]]:
        """(whether the file was replaced or shortened since the last read, the new records)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            rewritten = self.inode is not None
            self.offset, self.inode, self.partial = 0, None, b""
            return rewritten, []
        rewritten = self.inode is not None and (st.st_ino != self.inode or st.st_size < self.offset)
        if rewritten:
            self.offset, self.partial = 0, b""
        self.inode = st.st_ino
        if st.st_size == self.offset:
            return rewritten, []
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            chunk = f.read(st.st_size - self.offset)
        self.offset += len(chunk)
        lines = (self.partial + chunk).split(b"\n")
        self.partial = lines.pop()  # a line still being written (or cut by a crash) waits for its newline
        records = []
        for line in lines:
            with contextlib.suppress(ValueError):  # a line cut by a crash and continued by a resume
                rec = json.loads(line)
                if isinstance(rec, dict):
                    records.append(rec)
        return rewritten, records


class GridScan:
    """The fixed-noise grids written since the last look: the folder is listed only when it changed."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.dir_stamp, self.seen = folder, None, {}

    def read(self) -> list[tuple[int, int]]:
        """New or rewritten grids as (step, mtime_ns), by step."""
        try:
            stamp = os.stat(self.folder).st_mtime_ns
        except FileNotFoundError:
            return []
        if stamp == self.dir_stamp:
            return []
        self.dir_stamp = stamp
        found = []
        with os.scandir(self.folder) as entries:
            for entry in entries:
                m = _GRID.match(entry.name)
                if not m:
                    continue  # a grid being written has a temporary name until it is complete
                try:
                    mtime = entry.stat().st_mtime_ns
                except FileNotFoundError:
                    continue
                step = int(m.group(1))
                if self.seen.get(step) != mtime:
                    self.seen[step] = mtime
                    found.append((step, mtime))
        return sorted(found)


class RunWatcher:
    """The one reader of a run folder, and the pages subscribed to it."""

    def __init__(self, folder: Path, *, grid_url: Callable[[int, int], str], status: Callable[[], dict],
                 poll_s: float = POLL_S) -> None:
        self.folder, self.grid_url, self.status_of, self.poll_s = folder, grid_url, status, poll_s
        self.token = secrets.token_hex(4)
        self.seq = self.floor = 0
        self.events: list[Event] = []  # since the last history: what a reconnect may replay
        self.records: list[dict] = []
        self.grids: dict[int, dict] = {}
        self.status: dict = {}
        self.log, self.grid_scan = LogTail(folder / LOG_FILE), GridScan(folder / GRIDS_DIR)
        self.subscribers: set[asyncio.Queue] = set()
        self.polls = 0  # file reads so far (one per poll, however many pages watch)
        self._task: asyncio.Task | None = None
        self._lock = asyncio.Lock()

    # ---- reading (in a worker thread) and applying (on the event loop) --------------------------------------

    def _read(self) -> tuple[bool, list[dict], list[tuple[int, int]], dict]:
        self.polls += 1
        rewritten, records = self.log.read()
        return rewritten, records, self.grid_scan.read(), self.status_of()

    def _apply(self, rewritten: bool, records: list[dict], grids: list[tuple[int, int]], status: dict) -> list[Event]:
        if rewritten:
            self.records = []
        self.records.extend(records)
        for step, mtime in grids:
            self.grids[step] = {"step": step, "url": self.grid_url(step, mtime)}
        if rewritten:
            self.grids = {s: g for s, g in self.grids.items() if (self.folder / GRIDS_DIR / f"step_{s:06d}.png")
                          .is_file()}
            self.status = status
            self.seq += 1
            self.floor, self.events = self.seq, []
            return [Event(self.seq, "history", self.snapshot())]
        new = [("eval" if "metric" in r else "log", r) for r in records]
        new += [("grid", self.grids[step]) for step, _ in grids]
        if status != self.status:
            self.status = status
            new.append(("status", status))
        events = []
        for kind, data in new:
            self.seq += 1
            events.append(Event(self.seq, kind, data))
        self.events.extend(events)
        return events

    def snapshot(self) -> dict[str, Any]:
        return {"records": self.records, "grids": [self.grids[s] for s in sorted(self.grids)], "status": self.status}

    async def poll(self) -> list[Event]:
        async with self._lock:
            events = self._apply(*await asyncio.to_thread(self._read))
            for q in list(self.subscribers) if events else ():
                self._offer(q, events)
        return events

    def _offer(self, q: asyncio.Queue, batch: list[Event] | None) -> None:
        try:
            q.put_nowait(batch)
        except asyncio.QueueFull:  # a page that stopped reading: end its stream, it reconnects and catches up
            self.subscribers.discard(q)
            while not q.empty():
                q.get_nowait()
            q.put_nowait(None)

    async def _run(self) -> None:
        while self.subscribers:
            await asyncio.sleep(self.poll_s)
            await self.poll()

    # ---- pages ------------------------------------------------------------------------------------------------

    def catch_up(self, last_id: str | None) -> list[Event]:
        """What a page connecting with ``last_id`` is missing: the events after it, or a history."""
        token, _, seq = (last_id or "").partition(".")
        if token == self.token and seq.isdigit() and self.floor <= int(seq) <= self.seq:
            return [e for e in self.events if e.seq > int(seq)]
        return [Event(self.seq, "history", self.snapshot())]

    async def subscribe(self, last_id: str | None) -> tuple[list[Event], asyncio.Queue]:
        if self._task is None or self._task.done():
            await self.poll()  # the history is current when it is sent
        q: asyncio.Queue = asyncio.Queue(QUEUE_BATCHES)
        first = self.catch_up(last_id)  # no await between this and the add: no event falls in between
        self.subscribers.add(q)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        return first, q

    def unsubscribe(self, q: asyncio.Queue) -> None:
        self.subscribers.discard(q)  # the poll task ends by itself when the last page has gone


class LiveHub:
    """The watchers of one server, one per run id, made when a page first watches the run."""

    def __init__(self, poll_s: float = POLL_S, keepalive_s: float = KEEPALIVE_S) -> None:
        self.poll_s, self.keepalive_s = poll_s, keepalive_s
        self.watchers: dict[str, RunWatcher] = {}
        self.closing = False

    def watcher(self, run_id: str, folder: Path, *, grid_url: Callable[[int, int], str],
                status: Callable[[], dict]) -> RunWatcher:
        w = self.watchers.get(run_id)
        if w is None or w.folder != folder:
            w = self.watchers[run_id] = RunWatcher(folder, grid_url=grid_url, status=status, poll_s=self.poll_s)
        return w

    async def stream(self, watcher: RunWatcher, last_id: str | None) -> AsyncIterator[bytes]:
        """The bytes of one page's event stream: what it is missing, then every new event, until it leaves."""
        first, q = await watcher.subscribe(last_id)
        try:
            yield b"retry: 1000\n\n" + b"".join(e.encode(watcher.token) for e in first)
            quiet = 0.0
            while not self.closing:
                try:
                    batch = await asyncio.wait_for(q.get(), timeout=1.0)
                except TimeoutError:
                    quiet += 1.0
                    if quiet >= self.keepalive_s:
                        quiet = 0.0
                        yield b": keep-alive\n\n"
                    continue
                if batch is None:
                    return
                quiet = 0.0
                yield b"".join(e.encode(watcher.token) for e in batch)
        finally:
            watcher.unsubscribe(q)

    def close(self) -> None:
        """End every stream within a second (the server is shutting down: open streams would hold it up).
        Only sets a flag, so a signal handler may call it."""
        self.closing = True
