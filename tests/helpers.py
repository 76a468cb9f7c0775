"""Helpers shared by tests in every folder (tests/ is on sys.path through its conftest.py)."""

from __future__ import annotations

from typing import Any

from ganforge.config import RunConfig, TrainConfig
from ganforge.resolve import DataFacts, resolve

DIGITS = [str(i) for i in range(10)]


def resolved(*, facts: DataFacts | None = None, **fields: Any) -> RunConfig:
    """The complete config of a request without loading any data: by default the facts of MNIST's train split
    (60,000 images, ten classes), or the ``facts`` given."""
    request = TrainConfig(**fields)
    return resolve(request, facts or DataFacts(request.dataset or "mnist", 60_000, 10, DIGITS))


def colour_presets(monkeypatch: Any) -> dict[int, str]:
    """The lean colour presets for CPUs, by resolution (32 and 64): the registered ones (``cpu_default``), else
    stand-ins registered for the calling test only (``monkeypatch`` removes them): SNGAN ResNets at width 4 under
    the names the lean colour presets have, so the preset choice can be tested before they exist."""
    from ganforge.presets import PRESETS, Preset
    from ganforge.presets.modern import MODERN, RESNET

    found = {}
    for side in (32, 64):
        have = [p.name for p in PRESETS.values() if p.cpu_default and p.image_shape == (3, side, side)]
        if have:
            found[side] = have[0]
            continue
        name = f"dcgan-{side}-rgb-fast"
        monkeypatch.setitem(PRESETS, name, Preset(
            name, f"stand-in for the lean {side}x{side} colour preset", (3, side, side), **RESNET,
            defaults={**MODERN, "batch_size": 16, "steps": 100, "extra": {"width": 4}}, cpu_default=True))
        found[side] = name
    return found


def shapes_folder(root: Any, n: int = 24, size: tuple[int, int] = (32, 32), *, mode: str = "RGB",
                  classes: tuple[str, ...] = (), seed: int = 0, fmt: str = "png") -> Any:
    """A folder of ``n`` images of random coloured rectangles and ellipses (``mode`` RGB, L, RGBA, ...), spread
    over the ``classes`` sub-folders when given; ``size`` is (width, height). Returns ``root``."""
    from pathlib import Path

    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    root = Path(root)
    for i in range(n):
        folder = root / classes[i % len(classes)] if classes else root
        folder.mkdir(parents=True, exist_ok=True)
        image = Image.new("RGB", size, tuple(int(v) for v in rng.integers(0, 256, 3)))
        draw = ImageDraw.Draw(image)
        for _ in range(3):
            x0, y0 = int(rng.integers(0, size[0] // 2)), int(rng.integers(0, size[1] // 2))
            x1, y1 = x0 + int(rng.integers(2, size[0] // 2 + 1)), y0 + int(rng.integers(2, size[1] // 2 + 1))
            shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
            shape((x0, y0, x1, y1), fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
        image.convert(mode).save(folder / f"{i:03d}.{fmt}")
    return root


def assert_dropout_of_p_03(drop: Any) -> None:
    """``drop``, a dropout of rate 0.3 in training mode, keeps 70% of its inputs scaled by 1 / 0.7, backpropagates
    through the same mask, and passes its input through in eval mode."""
    import torch

    torch.manual_seed(0)
    x = torch.full((400, 1000), 2.0, requires_grad=True)
    y = drop(x)
    kept = y != 0
    assert abs(kept.float().mean().item() - 0.7) < 0.005  # 400,000 draws: 4 standard deviations ~ 0.003
    assert torch.allclose(y[kept], torch.tensor(2.0 / 0.7))
    (g,) = torch.autograd.grad(y.sum(), x)
    assert torch.equal(g != 0, kept) and torch.allclose(g[kept], torch.tensor(1 / 0.7))
    drop.eval()
    assert drop(x) is x
