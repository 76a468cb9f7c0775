"""Watching runs: the live event stream, the history, the fixed-noise grids, the measured metrics and the
architecture of a run. Files are reached by run id and step number only."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import FastAPI, Header
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, StreamingResponse

from ..errors import GanforgeError
from ..presets import summarize_preset
from ..run.folder import METRICS_FILE, grid_path
from ..run.pretrained import read_config as read_pretrained_config
from ..run.shipped import read_info
from .explore import PNG, RunId
from .runs import ServedRun
from .studio import Refused, Studio

MAX_STEP = 10**9
EVENTS = {200: {"content": {"text/event-stream": {}},
                "description": "server-sent events: history, log, eval, grid, status (see docs/studio.md)"}}


def add_watch_routes(app: FastAPI, studio: Studio) -> None:
    """The endpoints that show a run's training: events, history, grids, metrics, architecture."""

    def watcher(sr: ServedRun):
        if sr.folder is None:
            raise Refused(404, f"'{sr.id}' is a generator without a run folder: it has no training log to watch")

        def grid_url(step: int, version: int) -> str:
            return f"/api/runs/{sr.id}/grids/{step}.png?v={version}"

        return studio.hub.watcher(sr.id, sr.folder, grid_url=grid_url, status=lambda: studio.status(sr))

    @app.get("/api/runs/{run_id}/events", summary="The run's training as server-sent events", responses=EVENTS,
             response_class=StreamingResponse)
    async def events(run_id: RunId, last_event_id: Annotated[str | None, Header(max_length=64)] = None
                     ) -> StreamingResponse:
        """A history first (or, with ``Last-Event-ID``, only what came after it), then each log record,
        evaluation, grid and change of state as it is written."""
        w = watcher(studio.get(run_id))
        return StreamingResponse(studio.hub.stream(w, last_event_id), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.get("/api/runs/{run_id}/history", summary="Everything the run has logged so far, as one answer")
    async def history(run_id: RunId) -> dict:
        w = watcher(studio.get(run_id))
        await w.poll()
        return w.snapshot()

    @app.get("/api/runs/{run_id}/grids/{step}.png", summary="The fixed-noise grid written at a step",
             responses=PNG, response_class=FileResponse)
    def grid(run_id: RunId, step: Annotated[int, PathParam(ge=0, le=MAX_STEP)]) -> FileResponse:
        sr = studio.get(run_id)
        path = grid_path(sr.folder, step) if sr.folder is not None else None
        if path is None or not path.is_file():
            raise Refused(404, f"run '{sr.id}' has no grid at step {step}")
        return FileResponse(path, media_type="image/png", headers={"Cache-Control": "no-cache"})

    @app.get("/api/runs/{run_id}/metrics", summary="What was measured: ganforge eval's metrics.json, or how a "
                                                   "shipped generator was made and measured")
    def metrics(run_id: RunId) -> dict:
        """``measured``: {number's name: value}; ``made``: a pretrained folder's command, budget and data."""
        sr = studio.get(run_id)
        folder = sr.folder or getattr(sr.run, "path", None)
        out: dict[str, Any] = {"measured": {}, "made": None}
        if folder is None:
            return out
        info = read_info(folder) if sr.kind == "pretrained" else {}
        if info:
            out["made"] = {k: info.get(k) for k in ("command", "environment", "budget", "data")}
            out["measured"].update(info.get("metrics") or {})
        out["measured"].update(measured_numbers(folder / METRICS_FILE))
        return out

    @app.get("/api/runs/{run_id}/architecture", summary="G and D layer by layer, and the run's config")
    def architecture(run_id: RunId) -> dict:
        sr = studio.get(run_id)
        cfg = _config_of(sr)
        out: dict[str, Any] = {"config": cfg.to_dict() if cfg is not None else None, "generator": None,
                               "discriminator": None}
        if cfg is None:
            return out
        try:
            summaries = summarize_preset(cfg)
        except (GanforgeError, KeyError, RuntimeError, TypeError, ValueError) as e:  # a config that no longer builds
            out["note"] = f"the networks could not be rebuilt from the config: {e}"
            return out
        # The rows as `ganforge presets NAME` prints them (Keras' columns), and the plain data beside them.
        for key, s in zip(("generator", "discriminator"), summaries):
            out[key] = {"name": s.name, "totals": s.totals_lines(), "summary": s.to_dict(),
                        "rows": [{"Layer (type)": r.label, "Output Shape": r.shape_text, "Param #": r.params}
                                 for r in s.rows]}
        return out


def _config_of(sr: ServedRun):
    """The run's complete config: the folder's config.json, the loaded run's, or a pretrained folder's."""
    if sr.folder is not None:
        try:
            return sr.config()
        except (GanforgeError, OSError):
            return None  # started a moment ago: no config.json yet
    config = getattr(sr.run, "config", None)
    if config is not None:
        return config
    path = getattr(sr.run, "path", None)
    if path is not None:
        from ..run.folder import config_from_dict

        return config_from_dict(read_pretrained_config(path)["train_config"], source=str(path))
    return None


def measured_numbers(path) -> dict[str, float]:
    """The headline numbers of a metrics.json that ``ganforge eval`` wrote ({} when none can be read)."""
    from ..metrics.registry import METRICS

    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError):
        return {}
    out = {}
    for name, entry in entries.items() if isinstance(entries, dict) else ():
        keys = METRICS[name].keys if name in METRICS else ()
        numbers = {k: entry.get(k) for k in keys if isinstance(entry, dict)}
        out.update({k: v for k, v in numbers.items() if isinstance(v, int | float) and not isinstance(v, bool)})
    return out
