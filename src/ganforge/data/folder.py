"""``folder:PATH`` datasets: the user's own image files.

Every file under PATH whose extension is in ``EXTENSIONS`` (any case) is read, in nested folders too, in
sorted order of the path below PATH; other files, and names starting with a dot (``.DS_Store``, ``._x.jpg``,
``.ipynb_checkpoints/``), are ignored. Symlinks are followed; a folder reached twice (a symlink loop, or two
links to one folder) is read once. When every image sits in a first-level sub-folder, those sub-folders are
the classes (sorted by name).

Bad input is skipped and named in the log, one line per file with the reason (the first 20; then a count):
a file that cannot be decoded (corrupt, truncated, not really an image, a decompression bomb), an empty file,
a file or folder that cannot be opened (no permission, vanished, a broken symlink), and anything with an
image name that is not a regular file (a FIFO, a device: never opened, as reading one could block forever).
A folder named like an image (``x.png/``) is a folder. If nothing readable is left, loading fails with an error
naming the folder.

Each image becomes ``channels`` channels (transparency composited onto ``BACKGROUND``, 16-bit grey scaled
down to 8 bits) and size x size (shorter side resized, antialiased, then center-cropped).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torchvision.transforms.v2 import functional as F
from tqdm import tqdm

from ganforge.data.convert import resize_square
from ganforge.data.dataset import ImageDataset
from ganforge.errors import GanforgeError

EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")
BACKGROUND = (255, 255, 255)  # what transparent pixels become: white, as an image viewer shows them
_NAMED_SKIPS = 20  # skipped files named one per line; the rest are counted
_HIGH_DEPTH_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")


def load_folder(path: str | os.PathLike[str], *, channels: int, size: int,
                log: Callable[[str], None] = print) -> ImageDataset:
    """All readable images under ``path`` as one N x channels x size x size uint8 dataset."""
    root = Path(os.path.abspath(Path(path).expanduser()))
    if not root.exists():
        raise GanforgeError(f"image folder not found: {root}")
    if not root.is_dir():
        raise GanforgeError(f"not a folder: {root} (folder:PATH needs a folder of images)")
    problems: list[tuple[Path, str]] = []  # found while walking: unreadable folders, FIFOs named x.png, ...
    files = find_images(root, problems)
    for folder, why in problems:
        if folder == root:
            raise GanforgeError(f"image folder {root}: {why}")
    if not files and problems:
        _report([(p.relative_to(root), why) for p, why in problems], root, log)
        raise GanforgeError(f"no readable image in {root}: {len(problems)} entries skipped (named above)")
    if not files:
        raise GanforgeError(f"no image files in {root}; accepted extensions: {', '.join(EXTENSIONS)} "
                            "(other files are ignored)")
    relative = [f.relative_to(root) for f in files]

    class_names: list[str] | None = None
    if all(len(r.parts) > 1 for r in relative):
        class_names = sorted({r.parts[0] for r in relative})
    elif any(len(r.parts) > 1 for r in relative):
        loose = sum(len(r.parts) == 1 for r in relative)
        log(f"no class labels for {root}: {loose} images sit directly in it rather than in class sub-folders")
    class_index = {name: i for i, name in enumerate(class_names or [])}

    images = torch.empty((len(files), channels, size, size), dtype=torch.uint8)
    labels: list[int] = []
    skipped: list[tuple[Path, str]] = [(p.relative_to(root), why) for p, why in problems]
    progress = tqdm(zip(files, relative), total=len(files), desc="reading images", unit="img", leave=False,
                    file=sys.stderr, disable=None if len(files) >= 2000 else True)
    for file, rel in progress:
        try:
            image = decode_image(file, channels)
        except Exception as e:  # PIL's decoders raise many exception types on bad input
            skipped.append((rel, _why_unreadable(file, e)))
            continue
        images[len(labels)] = resize_square(image, size)
        labels.append(class_index[rel.parts[0]] if class_names else 0)

    _report(sorted(skipped, key=lambda s: s[0].parts), root, log)
    if not labels:
        raise GanforgeError(f"none of the {len(files)} image files in {root} could be read"
                            + (f" ({len(problems)} more entries skipped)" if problems else ""))
    count = len(labels)
    return ImageDataset(
        name=f"folder:{root}",
        images=images[:count].clone() if count < len(files) else images,  # clone frees the unused rows
        labels=torch.tensor(labels, dtype=torch.int64) if class_names else None,
        class_names=class_names,
        source=f"{count:,} images from {root}" + (f", {len(skipped)} unreadable skipped" if skipped else ""),
    )


def _report(skipped: list[tuple[Path, str]], root: Path, log: Callable[[str], None]) -> None:
    for rel, why in skipped[:_NAMED_SKIPS]:
        log(f"skipped {_display(rel)}: {why}")
    if len(skipped) > _NAMED_SKIPS:
        log(f"skipped {len(skipped) - _NAMED_SKIPS} more unreadable files in {root}")


def _display(rel: Path) -> str:
    # A name with a newline or other control character must not break the one-line-per-file log.
    text = str(rel)
    return text if text.isprintable() else ascii(text)


def find_images(root: Path, problems: list[tuple[Path, str]] | None = None) -> list[Path]:
    """Image files under ``root`` (recursively, following symlinks), sorted by their path below ``root``.

    Sub-folders that cannot be listed and image-named entries that are not regular files are appended to
    ``problems`` as (path, reason) instead.
    """
    problems = [] if problems is None else problems
    found: list[Path] = []
    seen: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            st = folder.stat()
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as e:  # vanished or unreadable sub-folder; the root itself was checked by the caller
            problems.append((folder, f"folder cannot be read ({e.strerror or e})"))
            continue
        if (st.st_dev, st.st_ino) in seen:  # a symlink loop, or a second link to a folder already read
            continue
        seen.add((st.st_dev, st.st_ino))
        subfolders = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir():  # follows symlinks; False for broken ones
                subfolders.append(Path(entry.path))
            elif entry.name.lower().endswith(EXTENSIONS):
                if entry.is_file() or (entry.is_symlink() and not os.path.exists(entry.path)):
                    found.append(Path(entry.path))  # a broken symlink too: it is reported when it fails to open
                else:
                    problems.append((Path(entry.path), "not a regular file (a FIFO, socket or device); not opened"))
        stack.extend(reversed(subfolders))
    return sorted(found, key=lambda p: p.relative_to(root).parts)


def decode_image(path: Path, channels: int) -> torch.Tensor:
    """The image at ``path`` as uint8 channels x H x W (first frame of an animation)."""
    with Image.open(path) as opened:
        opened.load()
        try:
            image = ImageOps.exif_transpose(opened)  # phone photos are stored sideways plus an EXIF rotation
        except Exception:  # a damaged EXIF block should not cost the image itself
            image = opened.copy()
    return F.pil_to_tensor(to_mode(image, channels))


def to_mode(image: Image.Image, channels: int) -> Image.Image:
    """Flatten any PIL mode to "L" (channels=1) or "RGB" (channels=3)."""
    if image.mode in _HIGH_DEPTH_MODES or image.mode == "F":
        # PIL's convert("L") clips 16-bit values instead of scaling them.
        values = np.asarray(image, dtype=np.float64)
        if image.mode != "F":
            values = values / 257.0
        image = Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        # Dropping alpha would expose whatever colour hides under transparent pixels.
        background = Image.new("RGBA", image.size, (*BACKGROUND, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    return image.convert("L" if channels == 1 else "RGB")


def _why_unreadable(path: Path, error: Exception) -> str:
    try:
        if path.stat().st_size == 0:
            return "empty file (0 bytes)"
    except OSError as e:
        return e.strerror or "cannot be opened"
    if isinstance(error, UnidentifiedImageError):
        return "not an image PIL can read"
    if isinstance(error, OSError) and error.strerror:  # no permission, an I/O error: without the path again
        return error.strerror
    return " ".join(str(error).split()) or type(error).__name__
