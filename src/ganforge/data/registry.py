"""The dataset registry and ``load_dataset``: adding a dataset is one entry in ``DATASETS``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ganforge.data import mnist
from ganforge.data.convert import FITS, convert_images
from ganforge.data.dataset import ImageDataset, LoadRequest
from ganforge.data.folder_cache import open_folder
from ganforge.data.stream import StreamingDataset
from ganforge.errors import GanforgeError

FOLDER_PREFIX = "folder:"
FOLDER_FORM = "folder:PATH"
FOLDER_DESCRIPTION = ("your own images under PATH (png, jpg, jpeg, webp, bmp, gif, tif, tiff; searched "
                      "recursively); first-level sub-folders become classes. With no --preset, a colour or grey "
                      "preset near their size is chosen; --resolution, --channels, --fit crop|resize (crop: "
                      "shorter side resized, centre cut out) and --mirror (adds horizontal flips) shape them. "
                      "Decoded once and cached; a folder too big for memory is streamed from disk")
FOLDER_DEFAULT_CHANNELS = 3
FOLDER_DEFAULT_SIZE = 64
SPLITS = ("train", "test")


@dataclass(frozen=True)
class DatasetSpec:
    description: str  # one line, shown by `ganforge datasets`
    load: Callable[[LoadRequest], ImageDataset]  # returns the dataset in its native shape


DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        "MNIST handwritten digits: 28x28 grey, 10 classes, 60,000 train / 10,000 test "
        "(falls back to mnist-sample when it cannot be found or downloaded)", mnist.load_mnist),
    "fashion-mnist": DatasetSpec(
        "Zalando Fashion-MNIST clothing: 28x28 grey, 10 classes, 60,000 train / 10,000 test",
        mnist.load_fashion_mnist),
    "mnist-sample": DatasetSpec(
        "5,000 MNIST training digits shipped with ganforge: 28x28 grey, 10 classes, train split only",
        mnist.load_mnist_sample),
    "stacked-mnist": DatasetSpec(
        "Stacked MNIST (VEEGAN/PacGAN): 3 random digits as R,G,B, 28x28 colour, 1,000 classes, "
        "60,000 train / 10,000 test", mnist.load_stacked_mnist),
}


def dataset_names() -> list[str]:
    """The registered names, then the ``folder:PATH`` form."""
    return [*DATASETS, FOLDER_FORM]


def describe_datasets() -> list[tuple[str, str]]:
    """(name, one-line description) for each registered dataset and for ``folder:PATH``."""
    return [(name, spec.description) for name, spec in DATASETS.items()] + [(FOLDER_FORM, FOLDER_DESCRIPTION)]


def load_dataset(name: str, *, split: str = "train", data_dir: str | Path | None = None,
                 channels: int | None = None, size: int | None = None, fit: str = "crop", download: bool = True,
                 streaming: bool = False, log: Callable[[str], None] = print) -> ImageDataset | StreamingDataset:
    """Load a dataset by name (see ``describe_datasets``) as uint8 N x C x H x W.

    ``channels`` (1 or 3) and ``size`` (square side) convert the images, made square as ``fit`` says
    (``convert.resize_square``); None keeps the native shape, except for folders, which default to 3 channels
    and 64x64. ``data_dir`` is searched first for mnist-style datasets, ``download`` allows fetching them, and
    ``log`` receives one-line notices. A folder is decoded once and cached (``folder_cache``); with
    ``streaming``, one too big for memory comes back as a ``StreamingDataset`` (decoded when read) instead
    of an ``ImageDataset``.
    """
    if split not in SPLITS:
        raise GanforgeError(f"unknown split {split!r}; choose train or test")
    if channels is not None and (isinstance(channels, bool) or channels not in (1, 3)):
        raise GanforgeError(f"channels must be 1 or 3, got {channels!r}")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise GanforgeError(f"size must be a positive whole number of pixels, got {size!r}")
    if fit not in FITS:
        raise GanforgeError(f"fit must be one of {', '.join(FITS)}, got {fit!r}")

    if name.startswith(FOLDER_PREFIX):
        path = name[len(FOLDER_PREFIX):]
        if not path.strip():
            raise GanforgeError(f"{name!r} needs a path, e.g. folder:/path/to/images")
        if split != "train":
            raise GanforgeError(f"folder datasets have only a 'train' split, got split={split!r}")
        return open_folder(path, channels=channels or FOLDER_DEFAULT_CHANNELS, size=size or FOLDER_DEFAULT_SIZE,
                           fit=fit, streaming=streaming, log=log)

    spec = DATASETS.get(name.strip().lower())
    if spec is None:
        raise GanforgeError(f"unknown dataset {name!r}; choose one of: {', '.join(dataset_names())}")
    dataset = spec.load(LoadRequest(split=split, data_dir=data_dir, download=download, log=log))
    dataset.images = convert_images(dataset.images, channels, size, fit)
    return dataset
