"""Helpers shared by the metrics tests (imported by name: pytest puts this folder on sys.path)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType, SimpleNamespace

import torch
from PIL import Image, ImageDraw

from ganforge.data import user_cache_dir

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("GANFORGE_TEST_SHARED_DATA", REPO.parent / "shared" / "data"))
INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
# Captured at import, before the root conftest swaps in an empty cache per test: where a fully trained
# evaluator may live (the tests that want one skip when it is absent).
USER_CACHE = user_cache_dir()
# Likewise GANFORGE_INCEPTION_WEIGHTS as the user set it.
USER_WEIGHTS = os.environ.get("GANFORGE_INCEPTION_WEIGHTS")


def shared_inception_weights() -> Path | None:
    for candidate in (USER_WEIGHTS, SHARED_DATA / "weights" / INCEPTION_FILE):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def load_bench(name: str) -> ModuleType:
    """A script of bench/ as a module, so a test can call its main() in this process."""
    spec = importlib.util.spec_from_file_location(name, REPO / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def quiet(_: str) -> None:
    pass


class FakeRun:
    """Quacks like ganforge.run.Run; ``make(n, seed, labels)`` supplies the 'generated' images."""

    def __init__(self, path: Path, make, *, dataset="mnist", data_dir=None, num_classes=None, shape=(1, 28, 28)):
        self.path = Path(path)
        self.config = SimpleNamespace(dataset=dataset, data_dir=str(data_dir) if data_dir else None,
                                      preset="fake", device="cpu")
        self.device = torch.device("cpu")
        self.image_shape = shape
        self.num_classes = num_classes
        self.make = make
        self.calls: list[int] = []

    def generate(self, n, *, seed=0, batch_size=256, labels=None):
        self.calls.append(n)
        return self.make(n, seed, labels)



class FakeInception:
    """Stands in for InceptionExtractor: a fixed random projection of the pixels, and a call counter."""

    name = "fake-inception"
    calls = 0

    def __init__(self, weights, device, *, logits=False):
        self.weights = weights
        self.logits = logits
        self.projection = torch.randn(28 * 28, 64, generator=torch.Generator().manual_seed(0))

    def __call__(self, images):
        type(self).calls += len(images)
        x = images.float().mean(dim=1).flatten(1) / 255
        out = {"2048": x @ self.projection}
        if self.logits:
            out["logits_unbiased"] = (x @ self.projection)[:, :10]
        return out


SHAPE_COLOURS = [(220, 40, 40), (40, 180, 60), (50, 80, 220), (230, 200, 40)]


def draw_shapes(root: Path, count: int = 30) -> Path:
    """32x32 RGB pictures of circles, squares and triangles (one sub-folder, so one class, each)."""
    for i in range(count):
        shape = ("circles", "squares", "triangles")[i % 3]
        (root / shape).mkdir(parents=True, exist_ok=True)
        image = Image.new("RGB", (32, 32), (255, 255, 255))
        draw, colour, at, size = ImageDraw.Draw(image), SHAPE_COLOURS[i % 4], i % 7, 10 + i % 9
        if shape == "circles":
            draw.ellipse((at, at, at + size + 6, at + size + 6), fill=colour)
        elif shape == "squares":
            draw.rectangle((at, 4, at + size + 4, size + 8), fill=colour)
        else:
            draw.polygon([(at + 2, 30), (at + 10 + size // 2, 22 - size), (at + 16 + size, 30)], fill=colour)
        image.save(root / shape / f"{i:02d}.png")
    return root
