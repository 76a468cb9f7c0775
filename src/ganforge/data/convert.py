"""Bring images to a requested channel count and square size."""

from __future__ import annotations

import torch
from torchvision.transforms.v2 import functional as F

_CHUNK = 4096  # images resized at a time, to bound the temporary memory of a resize
# How an image becomes a square: "crop" resizes the shorter side and cuts the middle out of the longer one;
# "resize" squeezes the whole image, changing its aspect ratio but keeping every part of it.
FITS = ("crop", "resize")


def luminance(rgb: torch.Tensor) -> torch.Tensor:
    """uint8 ... x 3 x H x W -> ... x 1 x H x W, with PIL's exact integer formula (ITU-R 601-2 luma, rounded).

    The same numbers as ``PIL.Image.convert("L")``, so folder images and tensor datasets agree.
    """
    r, g, b = rgb.to(torch.int32).unbind(dim=-3)
    grey = (r * 19595 + g * 38470 + b * 7471 + 32768) >> 16
    return grey.to(torch.uint8).unsqueeze(-3)


def convert_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """uint8 ... x C x H x W, C in (1, 3) -> ``channels`` channels (grey repeated; colour -> luminance)."""
    have = images.shape[-3]
    if have == channels:
        return images
    if have == 1 and channels == 3:
        return images.expand(*images.shape[:-3], 3, *images.shape[-2:])
    if have == 3 and channels == 1:
        return luminance(images)
    raise ValueError(f"cannot convert {have} channels to {channels}")


def resize_square(images: torch.Tensor, size: int, fit: str = "crop") -> torch.Tensor:
    """size x size images (bilinear, antialiased): with ``fit`` "crop" the shorter side is resized to ``size`` and
    the centre cut out; with "resize" the whole image is squeezed to the square."""
    height, width = images.shape[-2:]
    if (height, width) == (size, size):
        return images
    if fit == "resize":
        return F.resize(images, [size, size], antialias=True)
    if fit != "crop":
        raise ValueError(f"fit must be one of {', '.join(FITS)}, got {fit!r}")
    if min(height, width) != size:
        images = F.resize(images, [size], antialias=True)
    return F.center_crop(images, [size, size])


def convert_images(images: torch.Tensor, channels: int | None, size: int | None, fit: str = "crop") -> torch.Tensor:
    """uint8 N x C x H x W -> N x channels x size x size (None keeps that dimension), contiguous; ``fit`` as in
    ``resize_square``."""
    # Shrink the channel count before resizing and grow it after, so the resize touches the fewest values.
    if channels is not None and channels < images.shape[1]:
        images = convert_channels(images, channels)
    if size is not None and images.shape[-2:] != (size, size):
        resized = torch.empty((*images.shape[:2], size, size), dtype=images.dtype)
        for start in range(0, len(images), _CHUNK):
            resized[start:start + _CHUNK] = resize_square(images[start:start + _CHUNK], size, fit)
        images = resized
    if channels is not None:
        images = convert_channels(images, channels)
    return images.contiguous()
