"""Turning generator output into images people can look at: uint8, grids, PNG and NPZ files."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from torchvision.utils import make_grid

from .fileio import atomic_path, atomic_write_bytes


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Map generator output in [-1, 1] (N x C x H x W, any float dtype) to uint8 [0, 255]."""
    return x.detach().float().add(1.0).mul(127.5).round_().clamp_(0, 255).to(torch.uint8)


def to_hwc(images: torch.Tensor) -> np.ndarray:
    """uint8 N x C x H x W tensor -> N x H x W x C numpy array (what image libraries expect)."""
    return images.permute(0, 2, 3, 1).cpu().numpy()


def to_pil(images: torch.Tensor) -> list[Image.Image]:
    """uint8 N x C x H x W -> PIL images ('L' for one channel, 'RGB' for three)."""
    arr = to_hwc(images)
    if arr.shape[-1] == 1:
        return [Image.fromarray(a[..., 0], mode="L") for a in arr]
    return [Image.fromarray(a, mode="RGB") for a in arr]


def grid_image(images: torch.Tensor, nrow: int, padding: int = 2) -> Image.Image:
    """Tile uint8 N x C x H x W images into one PIL image, ``nrow`` images per row."""
    grid = make_grid(images.cpu(), nrow=nrow, padding=padding, pad_value=0)
    arr = grid.permute(1, 2, 0).numpy()
    if images.shape[1] == 1:
        return Image.fromarray(arr[..., 0], mode="L")
    return Image.fromarray(arr, mode="RGB")


def save_png(image: Image.Image, path: str | Path, text: dict[str, str] | None = None) -> None:
    """Write a PNG atomically; ``text`` goes into its tEXt chunks (step, metric values)."""
    info = PngInfo()
    for k, v in (text or {}).items():
        info.add_text(k, v)
    buf = io.BytesIO()
    image.save(buf, format="PNG", pnginfo=info)
    atomic_write_bytes(path, buf.getvalue())


def save_grid(images: torch.Tensor, path: str | Path, nrow: int | None = None,
              text: dict[str, str] | None = None) -> None:
    nrow = nrow or max(1, int(np.ceil(np.sqrt(images.shape[0]))))
    save_png(grid_image(images, nrow), path, text)


def save_each(images: torch.Tensor, folder: str | Path, prefix: str = "img") -> list[Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    width = max(5, len(str(images.shape[0] - 1)))
    paths = []
    for i, img in enumerate(to_pil(images)):
        p = folder / f"{prefix}_{i:0{width}d}.png"
        save_png(img, p)
        paths.append(p)
    return paths


def save_npz(images: torch.Tensor, path: str | Path, labels: torch.Tensor | None = None) -> None:
    """Save as ``images`` (uint8 N x H x W x C) and, when given, ``labels`` in a compressed .npz."""
    arrays = {"images": to_hwc(images)}
    if labels is not None:
        arrays["labels"] = labels.cpu().numpy()
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
