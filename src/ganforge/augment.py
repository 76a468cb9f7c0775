"""DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training").

The same random, differentiable transforms are applied to every image D sees, real and fake, in D's
step and in G's step, so D cannot overfit a small data set and G still gets gradients through them.
Images are in [-1, 1]; as in the paper's code, translation fills with zeros and cutout writes zeros.

Every random number comes from the generator passed in (the trainer's noise generator), so a run
with augmentation resumes exactly.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from .errors import GanforgeError

Tensor = torch.Tensor
Augment = Callable[[Tensor, torch.Generator | None], Tensor]


def _rand(x: Tensor, gen: torch.Generator | None) -> Tensor:
    """One uniform [0, 1) number per image, shaped to broadcast over C, H, W."""
    return torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype, generator=gen)


def color(x: Tensor, gen: torch.Generator | None = None) -> Tensor:
    """Brightness +-0.5, saturation x[0, 2], contrast x[0.5, 1.5], each drawn per image."""
    x = x + (_rand(x, gen) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_rand(x, gen) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_rand(x, gen) + 0.5) + mean


def translation(x: Tensor, gen: torch.Generator | None = None, ratio: float = 0.125) -> Tensor:
    """Shift each image by up to ``ratio`` of its size in x and y (whole pixels), zeros coming in."""
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sh, sh + 1, (b, 1, 1), device=x.device, generator=gen)
    tx = torch.randint(-sw, sw + 1, (b, 1, 1), device=x.device, generator=gen)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    # Index into the image padded by one pixel of zeros: out-of-range sources land on the padding.
    src_y = (rows + ty + 1).clamp(0, h + 1).expand(b, h, w)
    src_x = (cols + tx + 1).clamp(0, w + 1).expand(b, h, w)
    padded = F.pad(x, (1, 1, 1, 1))
    batch = torch.arange(b, device=x.device).view(b, 1, 1).expand(b, h, w)
    return padded.permute(0, 2, 3, 1)[batch, src_y, src_x].permute(0, 3, 1, 2)


def cutout(x: Tensor, gen: torch.Generator | None = None, ratio: float = 0.5) -> Tensor:
    """Zero one square of ``ratio`` of the image size per image, centred anywhere in the image."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), device=x.device, generator=gen)
    cx = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), device=x.device, generator=gen)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    inside = ((rows >= cy - ch // 2) & (rows < cy - ch // 2 + ch)
              & (cols >= cx - cw // 2) & (cols < cx - cw // 2 + cw))
    return x * (~inside).unsqueeze(1).to(x.dtype)


AUGMENTS: dict[str, Augment] = {"color": color, "translation": translation, "cutout": cutout}
ORDER = ("color", "translation", "cutout")  # the paper's order, whatever order the user writes


def parse_augment(spec: str) -> tuple[str, ...]:
    """'none' -> (); 'translation,cutout' -> the transforms in the paper's order. Unknown names fail."""
    if spec.strip() == "none":
        return ()
    names = [n.strip() for n in spec.split(",") if n.strip()]
    if not names:
        raise GanforgeError(f"augment must be 'none' or a comma list of {', '.join(ORDER)}; got {spec!r}")
    for n in names:
        if n not in AUGMENTS:
            raise GanforgeError(f"unknown augmentation {n!r} in augment={spec!r}; "
                                f"choose 'none' or a comma list of {', '.join(ORDER)}")
    return tuple(n for n in ORDER if n in names)


def diff_augment(x: Tensor, names: tuple[str, ...], gen: torch.Generator | None = None) -> Tensor:
    for name in names:
        x = AUGMENTS[name](x, gen)
    return x
