"""The explorer's endpoints: grids of samples for a seed, single images, interpolation between two seeds.

Endpoints are plain ``def`` functions, so FastAPI runs them in its threadpool and the torch work never
blocks the event loop. Every number a request gives is range-checked.
"""

from __future__ import annotations

import io
import math
from typing import Annotated

import torch
from fastapi import FastAPI, HTTPException, Query
from fastapi import Path as PathParam
from fastapi.responses import Response
from PIL import Image

from ..images import grid_image, to_pil
from .limits import MAX_FRAMES, MAX_IMAGES, MAX_PIXELS, MAX_SEED
from .runs import RunLike, ServedRun
from .studio import Studio

Seed = Annotated[int, Query(ge=0, le=MAX_SEED, description=f"random seed, 0..{MAX_SEED}")]
Count = Annotated[int, Query(ge=1, le=MAX_IMAGES, description=f"number of images, 1..{MAX_IMAGES}")]
Frames = Annotated[int, Query(ge=2, le=MAX_FRAMES, description=f"interpolation frames, 2..{MAX_FRAMES}")]
ClassIndex = Annotated[int | None, Query(alias="class", ge=0, description="class index (conditional runs only)")]
RunId = Annotated[str, PathParam(description="a run id from GET /api/runs")]

PNG = {200: {"content": {"image/png": {}}, "description": "a PNG image"}}


def slerp(a: torch.Tensor, b: torch.Tensor, frames: int) -> torch.Tensor:
    """``frames`` latents on the great circle from ``a`` to ``b`` (1-D), ends included exactly.

    Spherical rather than linear: Gaussian latents live near a sphere, and the straight line between
    two of them passes through low-norm latents the generator rarely saw in training.
    """
    t = torch.linspace(0, 1, frames, dtype=torch.float64)[:, None]
    a64, b64 = a.double(), b.double()
    cos = torch.dot(a64 / a64.norm(), b64 / b64.norm()).clamp(-1, 1)
    omega = torch.arccos(cos)
    if omega.abs() < 1e-6:  # (nearly) the same direction: a straight line is the same path
        z = (1 - t) * a64 + t * b64
    else:
        z = (torch.sin((1 - t) * omega) * a64 + torch.sin(t * omega) * b64) / torch.sin(omega)
    z = z.to(a.dtype)
    z[0], z[-1] = a, b
    return z


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def gif_bytes(images: torch.Tensor, fps: int) -> bytes:
    """A looping GIF that plays the frames forward and back again."""
    pics = to_pil(images)
    pics = pics + pics[-2:0:-1]
    buf = io.BytesIO()
    pics[0].save(buf, format="GIF", save_all=True, append_images=pics[1:], duration=round(1000 / fps), loop=0)
    return buf.getvalue()


def _image(content: bytes, media_type: str = "image/png") -> Response:
    # The same URL always gives the same picture for a loaded run, but a run folder may be retrained
    # while the server runs, so browsers revalidate rather than keep old pictures.
    return Response(content=content, media_type=media_type, headers={"Cache-Control": "no-cache"})


def add_explore_routes(app: FastAPI, studio: Studio) -> None:
    """The sampling and interpolation endpoints of ``studio``'s runs."""
    get_run = studio.get

    def labels_for(sr: ServedRun, n: int, cls: int | None) -> torch.Tensor | None:
        if cls is None:
            return None
        k = sr.num_classes
        if not k:
            raise HTTPException(422, f"query parameter 'class': run '{sr.id}' is unconditional; it takes no class")
        if cls >= k:
            raise HTTPException(422, f"query parameter 'class': must be 0..{k - 1} for run '{sr.id}' (got {cls})")
        return torch.full((n,), cls, dtype=torch.int64)

    def check_size(sr: ServedRun, n: int, name: str) -> None:
        _, h, w = sr.run.image_shape
        if n * h * w > MAX_PIXELS:
            raise HTTPException(422, f"query parameter '{name}': {n} images of {h}x{w} exceed the "
                                     f"{MAX_PIXELS:,}-pixel limit of one request; ask for at most "
                                     f"{MAX_PIXELS // (h * w)}")

    def check_index(index: int, n: int, name: str) -> None:
        if index >= n:
            raise HTTPException(422, f"path parameter 'index': must be 0..{n - 1} for {name}={n} (got {index})")

    def samples(sr: ServedRun, seed: int, n: int, cls: int | None) -> torch.Tensor:
        check_size(sr, n, "n")
        labels = labels_for(sr, n, cls)
        return sr.generate(("samples", seed, n, cls), lambda run: run.generate(n, seed=seed, labels=labels))

    def interpolation(sr: ServedRun, a: int, b: int, frames: int, cls: int | None) -> torch.Tensor:
        check_size(sr, frames, "frames")
        labels = labels_for(sr, frames, cls)
        # A conditional run keeps one class through the frames: the one asked for, else seed a's own class.
        if sr.num_classes and labels is None:
            if not hasattr(sr.run, "random_labels"):
                raise HTTPException(422, f"query parameter 'class': run '{sr.id}' is conditional; interpolation "
                                         f"needs a class 0..{sr.num_classes - 1}")
            labels = sr.run.random_labels(1, a).expand(frames).clone()

        def make(run: RunLike) -> torch.Tensor:
            z = slerp(run.noise(1, a)[0], run.noise(1, b)[0], frames)
            return run.generate(frames, seed=a, labels=labels, z=z)

        return sr.generate(("interpolate", a, b, frames, cls), make)

    @app.get("/api/runs/{run_id}/samples.png", summary="A grid of n images for a seed", responses=PNG,
             response_class=Response)
    def samples_grid(run_id: RunId, seed: Seed = 0, n: Count = 16, cls: ClassIndex = None,
                     nrow: Annotated[int | None, Query(ge=1, le=MAX_IMAGES)] = None) -> Response:
        """The same images as ``ganforge sample RUN --seed SEED --n N``, tiled ``nrow`` per row (default square)."""
        images = samples(get_run(run_id), seed, n, cls)
        nrow = nrow or math.ceil(math.sqrt(n))  # square, as `ganforge sample` tiles it
        return _image(png_bytes(grid_image(images, nrow)))

    @app.get("/api/runs/{run_id}/samples/{index}.png", summary="Image number index of that grid",
             responses=PNG, response_class=Response)
    def samples_one(run_id: RunId, index: Annotated[int, PathParam(ge=0, le=MAX_IMAGES - 1)], seed: Seed = 0,
                    n: Count = 16, cls: ClassIndex = None) -> Response:
        check_index(index, n, "n")
        images = samples(get_run(run_id), seed, n, cls)
        return _image(png_bytes(to_pil(images[index:index + 1])[0]))

    @app.get("/api/runs/{run_id}/sample/{seed}.png", summary="The one image of a seed", responses=PNG,
             response_class=Response)
    def sample_seed(run_id: RunId, seed: Annotated[int, PathParam(ge=0, le=MAX_SEED)],
                    cls: ClassIndex = None) -> Response:
        """The image that seed ``seed`` gives alone (a grid of n=1); interpolation runs between these."""
        images = samples(get_run(run_id), seed, 1, cls)
        return _image(png_bytes(to_pil(images)[0]))

    @app.get("/api/runs/{run_id}/interpolate.png", summary="A row of frames from seed a to seed b",
             responses=PNG, response_class=Response)
    def interpolate_row(run_id: RunId, a: Seed = 0, b: Seed = 1, frames: Frames = 8,
                        cls: ClassIndex = None) -> Response:
        images = interpolation(get_run(run_id), a, b, frames, cls)
        return _image(png_bytes(grid_image(images, frames)))

    @app.get("/api/runs/{run_id}/interpolate/{index}.png", summary="One frame of that row", responses=PNG,
             response_class=Response)
    def interpolate_one(run_id: RunId, index: Annotated[int, PathParam(ge=0, le=MAX_FRAMES - 1)], a: Seed = 0,
                        b: Seed = 1, frames: Frames = 8, cls: ClassIndex = None) -> Response:
        check_index(index, frames, "frames")
        images = interpolation(get_run(run_id), a, b, frames, cls)
        return _image(png_bytes(to_pil(images[index:index + 1])[0]))

    @app.get("/api/runs/{run_id}/interpolate.gif", summary="The frames as a looping animation",
             responses={200: {"content": {"image/gif": {}}}}, response_class=Response)
    def interpolate_gif(run_id: RunId, a: Seed = 0, b: Seed = 1, frames: Frames = 8, cls: ClassIndex = None,
                        fps: Annotated[int, Query(ge=1, le=60)] = 8) -> Response:
        images = interpolation(get_run(run_id), a, b, frames, cls)
        return _image(gif_bytes(images, fps), "image/gif")
