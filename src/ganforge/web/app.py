"""The studio's web app: one HTML page and the JSON, image and event endpoints behind it.

The endpoints live in ``explore`` (samples, interpolation), ``watch`` (live events, history, grids, metrics,
architecture) and ``control`` (start, stop, resume). Every number a request gives is range-checked, and every
4xx answer is ``{"detail": "<one line naming the parameter and what is accepted>"}``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from ..errors import GanforgeError
from ..version import __version__
from .catalog import Catalog
from .control import add_control_routes
from .explore import RunId, add_explore_routes, gif_bytes, png_bytes, slerp
from .limits import MAX_FRAMES, MAX_IMAGES, MAX_PIXELS, MAX_SEED, RequestLimits, short
from .runs import NotReady, RunLike
from .studio import Refused, Studio, StudioOptions
from .watch import add_watch_routes

STATIC = Path(__file__).parent / "static"

__all__ = ["create_app", "gif_bytes", "png_bytes", "slerp"]


def create_app(runs: Catalog | Mapping[str, RunLike] | Sequence[RunLike] = (),
               options: StudioOptions | None = None) -> FastAPI:
    """The studio app serving ``runs``: loaded :class:`ganforge.run.Run` objects or look-alikes, or a
    :class:`Catalog` (run folders, the runs root, shipped generators). ``options`` set the roots and limits;
    without a ``runs_root`` the page cannot start runs."""
    options = options or StudioOptions()
    catalog = runs if isinstance(runs, Catalog) else Catalog(runs, runs_root=options.runs_root, scan_root=True)
    if not catalog.served and options.runs_root is None:
        raise GanforgeError("no runs to serve")
    studio = Studio(catalog, options)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        studio.shutdown()  # no training child outlives the server

    # The interactive /docs page loads its scripts from a CDN, which breaks offline; the schema stays.
    app = FastAPI(title="ganforge studio", version=__version__, docs_url=None, redoc_url=None, lifespan=lifespan,
                  description="Watch runs train, start and stop them, compare them; sample, compare and "
                              "interpolate trained ganforge generators.")
    app.state.studio = studio
    app.state.runs = catalog.served
    app.add_middleware(RequestLimits)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            where = [str(p) for p in err.get("loc", ())]
            name = where[-1] if where else "request"
            kind = f"{where[0]} parameter " if len(where) > 1 else ""
            got = f" (got {short(err['input'])})" if isinstance(err.get("input"), str | int | float) else ""
            problems.append(f"{kind}'{name}': {err.get('msg', 'invalid')}{got}")
        return JSONResponse(status_code=422, content={"detail": "; ".join(problems)})

    @app.exception_handler(GanforgeError)
    async def _refused(request: Request, exc: GanforgeError) -> JSONResponse:
        # What a run itself refuses (its own checks on labels or counts) is the request's problem too; a run
        # with nothing to sample yet is a conflict with its state, not a bad request.
        status = exc.status if isinstance(exc, Refused) else 409 if isinstance(exc, NotReady) else 422
        return JSONResponse(status_code=status, content={"detail": str(exc)})

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/api/runs", summary="The served runs, and what the server allows")
    def list_runs() -> dict:
        catalog.refresh()  # runs started from a terminal into the runs root appear here
        runs = []
        for sr in catalog.all():
            try:
                runs.append({**sr.info(), "status": studio.status(sr)})
            except (GanforgeError, OSError):
                continue  # a folder being deleted or rewritten this very moment
        training = {"enabled": options.runs_root is not None, "max_runs": options.max_runs,
                    "active": [j.run_id for j in studio.jobs.active()],
                    "runs_root": str(options.runs_root) if options.runs_root else None}
        return {"runs": runs, "training": training,
                "limits": {"max_images": MAX_IMAGES, "max_frames": MAX_FRAMES, "max_seed": MAX_SEED,
                           "max_pixels": MAX_PIXELS}}

    @app.get("/api/runs/{run_id}", summary="One run: preset, step, image shape, classes, status")
    def run_info(run_id: RunId) -> dict:
        sr = studio.get(run_id)
        return {**sr.info(), "status": studio.status(sr)}

    add_explore_routes(app, studio)
    add_watch_routes(app, studio)
    add_control_routes(app, studio)
    return app
