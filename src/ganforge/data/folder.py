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
down to 8 bits) and size x size (``fit`` "crop": shorter side resized, antialiased, then center-cropped;
"resize": the whole image squeezed to the square).

``probe_folder`` says what a folder holds from a sample of its files' headers, without decoding it;
``data.folder_cache`` decodes a folder once and keeps the result, or streams a folder too big for memory.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass(frozen=True)
class FolderListing:
    """The image files of a folder, before any is opened."""

    root: Path
    files: list[Path]  # sorted by their path below root
    class_names: list[str] | None  # the first-level sub-folders, when every image sits in one
    labels: list[int]  # each file's class index (all 0 without classes)
    problems: list[tuple[Path, str]]  # (path below root, why) of entries that cannot be read


def list_folder(path: str | os.PathLike[str], log: Callable[[str], None] | None = None) -> FolderListing:
    """The image files under ``path`` and their classes; ``log`` hears why a folder has no class labels."""
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
    relative_problems = [(p.relative_to(root), why) for p, why in problems]
    if not files and problems:
        report_skipped(relative_problems, root, log or print)
        raise GanforgeError(f"no readable image in {root}: {len(problems)} entries skipped (named above)")
    if not files:
        raise GanforgeError(f"no image files in {root}; accepted extensions: {', '.join(EXTENSIONS)} "
                            "(other files are ignored)")
    relative = [f.relative_to(root) for f in files]
    class_names: list[str] | None = None
    if all(len(r.parts) > 1 for r in relative):
        class_names = sorted({r.parts[0] for r in relative})
    elif any(len(r.parts) > 1 for r in relative) and log is not None:
        loose = sum(len(r.parts) == 1 for r in relative)
        log(f"no class labels for {root}: {loose} images sit directly in it rather than in class sub-folders")
    index = {name: i for i, name in enumerate(class_names or [])}
    labels = [index[r.parts[0]] if class_names else 0 for r in relative]
    return FolderListing(root, files, class_names, labels, relative_problems)


def load_folder(path: str | os.PathLike[str], *, channels: int, size: int, fit: str = "crop",
                log: Callable[[str], None] = print) -> ImageDataset:
    """All readable images under ``path`` as one N x channels x size x size uint8 dataset, decoded now (no
    cache: ``registry.load_dataset`` adds one)."""
    return decode_folder(list_folder(path, log), channels=channels, size=size, fit=fit, log=log)[0]


def decode_folder(listing: FolderListing, *, channels: int, size: int, fit: str,
                  log: Callable[[str], None]) -> tuple[ImageDataset, list[tuple[Path, str]]]:
    """Every file of ``listing`` decoded, with the unreadable ones skipped: (the dataset, what was skipped)."""
    root, files = listing.root, listing.files
    images = torch.empty((len(files), channels, size, size), dtype=torch.uint8)
    labels: list[int] = []
    skipped: list[tuple[Path, str]] = list(listing.problems)
    progress = tqdm(zip(files, listing.labels), total=len(files), desc="reading images", unit="img", leave=False,
                    file=sys.stderr, disable=None if len(files) >= 2000 else True)
    for file, label in progress:
        try:
            image = decode_image(file, channels)
        except Exception as e:  # PIL's decoders raise many exception types on bad input
            skipped.append((file.relative_to(root), why_unreadable(file, e)))
            continue
        images[len(labels)] = resize_square(image, size, fit)
        labels.append(label)

    skipped.sort(key=lambda s: s[0].parts)
    report_skipped(skipped, root, log)
    if not labels:
        raise GanforgeError(f"none of the {len(files)} image files in {root} could be read"
                            + (f" ({len(listing.problems)} more entries skipped)" if listing.problems else ""))
    count = len(labels)
    dataset = folder_dataset(
        root, images[:count].clone() if count < len(files) else images,  # clone frees the unused rows
        torch.tensor(labels, dtype=torch.int64), listing.class_names, len(skipped))
    return dataset, skipped


def folder_dataset(root: Path, images: torch.Tensor, labels: torch.Tensor, class_names: list[str] | None,
                   skipped: int) -> ImageDataset:
    """The dataset of a folder's decoded images (labels are kept only when the folder has classes)."""
    return ImageDataset(
        name=f"folder:{root}", images=images, labels=labels if class_names else None, class_names=class_names,
        source=f"{len(images):,} images from {root}" + (f", {skipped} unreadable skipped" if skipped else ""))


def report_skipped(skipped: list[tuple[Path, str]], root: Path, log: Callable[[str], None]) -> None:
    """One line per skipped file (path below ``root``, why), the first few named and the rest counted."""
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


def why_unreadable(path: Path, error: Exception) -> str:
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


# ---- the probe: what a folder holds, from a sample of headers -------------------------------------------------

PROBE_SAMPLE = 256  # headers read: enough for a median size and the share of colour images, in well under a second
PIXEL_CHECKS = 32  # colour-mode files whose pixels are looked at (grey pictures saved as RGB are common)
_GREY_MODES = ("1", "L", "LA", "La", "F", *_HIGH_DEPTH_MODES)
_CHROMA = 12  # a pixel whose channels differ by more than this (of 255) is coloured; JPEG noise stays under it
_COLOURED_SHARE = 0.01  # an image with more than this share of coloured pixels is colour


@dataclass(frozen=True)
class FolderProbe:
    """What ``probe_folder`` found: counts over all files, the rest over a sample of their headers."""

    root: Path
    count: int  # image files (by name) in the folder
    sampled: int  # files whose header was read
    readable: int  # of those, the ones that opened
    colour: int  # of those, the ones judged colour (modes, and pixels of a few)
    short_side: int  # median shorter side of the readable ones, in pixels (0 when none)
    long_side: int  # median longer side
    class_names: list[str] | None

    @property
    def is_colour(self) -> bool:
        """Most images are colour (a mixed folder goes with its majority)."""
        return 2 * self.colour > self.readable

    @property
    def tone(self) -> str:
        """"colour", "grey", "mostly colour" or "mostly grey"."""
        main = "colour" if self.is_colour else "grey"
        return main if self.colour in (0, self.readable) else f"mostly {main}"

    @property
    def size_text(self) -> str:
        """"64x64", or "640x480" for images that are not about square."""
        square = self.long_side <= 1.1 * self.short_side
        return f"{self.short_side}x{self.short_side}" if square else f"{self.long_side}x{self.short_side}"

    def describe(self) -> str:
        """E.g. "1,898 colour images of about 64x64"."""
        return f"{self.count:,} {self.tone} images of about {self.size_text}"


def probe_folder(path: str | os.PathLike[str]) -> FolderProbe:
    """What the folder at ``path`` holds, from the headers of an evenly spaced sample of at most
    ``PROBE_SAMPLE`` files (deterministic: the same files every time), without decoding them.

    An image is grey when its mode is (L, LA, 1, I;16, ...). Grey pictures saved as RGB are common (scans,
    exports of photo editors), so the first ``PIXEL_CHECKS`` sampled files with a colour mode are decoded
    (JPEGs at a reduced scale) and count as grey when almost no pixel has channels that differ; the share
    found grey among them is applied to the other colour-mode files of the sample.
    """
    listing = list_folder(path, log=lambda _: None)
    files = listing.files
    k = min(len(files), PROBE_SAMPLE)
    sample = [files[i * len(files) // k] for i in range(k)]
    shorts, longs, colour_mode = [], [], []
    for file in sample:
        try:
            with Image.open(file) as image:  # reads the header only
                width, height = image.size
                if image.mode not in _GREY_MODES:
                    colour_mode.append(file)
        except Exception:  # unreadable files are the loader's to name; the probe just leaves them out
            continue
        shorts.append(min(width, height))
        longs.append(max(width, height))
    checked = [_looks_colour(f) for f in colour_mode[:PIXEL_CHECKS]]
    checked = [c for c in checked if c is not None]
    share = sum(checked) / len(checked) if checked else 1.0
    return FolderProbe(listing.root, len(files), k, len(shorts), round(len(colour_mode) * share),
                       int(np.median(shorts)) if shorts else 0, int(np.median(longs)) if longs else 0,
                       listing.class_names)


def _looks_colour(path: Path) -> bool | None:
    """Whether the pixels of a colour-mode file are coloured (None: it cannot be decoded)."""
    try:
        with Image.open(path) as opened:
            opened.draft("RGB", (64, 64))  # JPEG: decode at 1/2 to 1/8 scale, which is all this needs
            opened.load()
            image = to_mode(opened, 3)
    except Exception:
        return None
    factor = max(1, min(image.size) // 64)
    rgb = np.asarray(image.reduce(factor) if factor > 1 else image, dtype=np.int16)
    spread = rgb.max(axis=-1) - rgb.min(axis=-1)
    return bool(np.mean(spread > _CHROMA) > _COLOURED_SHARE)
