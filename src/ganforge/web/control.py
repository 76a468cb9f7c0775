"""Starting, stopping and resuming runs from the page, and the lists the form offers (presets, datasets).

The three ``POST`` endpoints answer only requests from the studio's own page: a JSON body (a cross-site form
cannot send one without the browser asking first) and, when the browser says where the request comes from
(``Origin``, ``Sec-Fetch-Site``), this server. Another web site open in the same browser cannot start or stop
runs through it; a server on loopback also wants a loopback ``Host``, so a web site whose name an attacker
points at 127.0.0.1 (DNS rebinding) cannot either.
"""

from __future__ import annotations

from fastapi import FastAPI, Request

from ..presets import PRESETS
from .explore import RunId
from .forms import ResumeRequest, StartRequest
from .studio import Refused, Studio


def host_name(host: str) -> str:
    """The name part of a Host header: ``127.0.0.1:7860`` -> ``127.0.0.1``, ``[::1]:7860`` -> ``::1``."""
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def same_origin(request: Request, allowed_hosts: tuple[str, ...] | None, body: bool = True) -> None:
    """Refuse (403) a request another site's page made; refuse (415) a body that is not JSON."""
    site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    host = request.headers.get("host", "")
    if (site is not None and site not in ("same-origin", "none")) or (
            origin is not None and origin.split("://", 1)[-1] != host) or (
            allowed_hosts is not None and host_name(host) not in allowed_hosts):
        raise Refused(403, "requests from other web sites may not start, stop or resume runs")
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if body and kind != "application/json":
        raise Refused(415, f"the body must be JSON (Content-Type: application/json), got {kind or 'none'!r}")


def add_control_routes(app: FastAPI, studio: Studio) -> None:
    """The form's lists and the start, stop and resume endpoints."""

    @app.get("/api/presets", summary="The presets a run can start from")
    def presets() -> dict:
        out = []
        for name, p in PRESETS.items():
            c, h, w = p.image_shape
            d = p.defaults
            out.append({"name": name, "description": p.description, "image_shape": [c, h, w],
                        "conditional": bool(d.get("conditional")), "steps": d.get("steps"),
                        "batch_size": d.get("batch_size"), "lr_g": d.get("lr_g"), "lr_d": d.get("lr_d"),
                        "width": (d.get("extra") or {}).get("width")})
        return {"presets": out}

    @app.get("/api/datasets", summary="The datasets a run can train on: the named ones and the data root's "
                                      "folders")
    def datasets() -> dict:
        return studio.datasets()

    # async: the child process is started from the event loop's thread, which lives as long as the server
    # (the kernel's parent-death signal follows the thread that started the child).
    @app.post("/api/runs", status_code=201, summary="Start a run (ganforge train) in the runs root")
    async def start(form: StartRequest, request: Request) -> dict:
        same_origin(request, studio.options.allowed_hosts)
        sr = studio.start(form)
        return {**sr.info(), "status": studio.status(sr)}

    @app.post("/api/runs/{run_id}/stop", status_code=202, summary="Stop a run this server started (SIGTERM: it "
                                                                  "checkpoints, then exits)")
    async def stop(run_id: RunId, request: Request) -> dict:
        same_origin(request, studio.options.allowed_hosts, body=False)
        sr = studio.get(run_id)
        studio.stop(sr)
        return {**sr.info(), "status": studio.status(sr)}

    @app.post("/api/runs/{run_id}/resume", status_code=202, summary="Carry a run on to a new total of steps")
    async def resume(run_id: RunId, form: ResumeRequest, request: Request) -> dict:
        same_origin(request, studio.options.allowed_hosts)
        sr = studio.get(run_id)
        studio.resume(sr, form)
        return {**sr.info(), "status": studio.status(sr)}
