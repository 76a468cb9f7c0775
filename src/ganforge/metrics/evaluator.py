"""Domain evaluators: a trained DigitCNN per dataset, stored in the user cache and trained on demand; the
"domain" feature kind.

Files: ``user_cache_dir()/evaluators/<dataset>-<architecture>.safetensors`` plus a ``.json`` sidecar
(accuracy, dataset, architecture, version, weights sha256). The sidecar is written last, so a file pair
without a matching sidecar is treated as missing.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ganforge.errors import GanforgeError
from ganforge.fileio import atomic_path, atomic_write_text
from ganforge.metrics import paths
from ganforge.metrics.classifier import ARCHITECTURE, IMAGE_SIZE, DigitCNN, accuracy, to_input, train_classifier
from ganforge.metrics.inception import file_sha256
from ganforge.metrics.realdata import describe_shape
from ganforge.metrics.registry import ExtractorInfo, FeatureContext, Target, View, register_features

VERSION = 1
# Which trained classifier judges each dataset (stacked-mnist: the MNIST one, per channel).
EVALUATOR_FOR = {"mnist": "mnist", "mnist-sample": "mnist", "stacked-mnist": "mnist",
                 "fashion-mnist": "fashion-mnist"}
STACKED = "stacked-mnist"  # judged channel by channel (StackedEvaluator)
TRAINABLE = ("mnist", "fashion-mnist")
DEFAULT_EPOCHS = {"mnist": 4, "fashion-mnist": 6}
FLIP = {"mnist": False, "fashion-mnist": True}  # mirrored digits are not digits; mirrored clothes are clothes
CONFIDENT = 0.9


def evaluator_paths(dataset: str) -> tuple[Path, Path]:
    stem = paths.cache_root() / "evaluators" / f"{dataset}-{ARCHITECTURE}"
    return stem.with_suffix(".safetensors"), stem.with_suffix(".json")


class DomainEvaluator:
    """A trained classifier: uint8 images -> 128-d features and class log-probabilities."""

    def __init__(self, model: DigitCNN, info: dict, device: torch.device | str):
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.info = info
        self.num_classes = int(model.head.out_features)
        self.name = f"domain-{info['dataset']}-{ARCHITECTURE}-v{VERSION}"  # stats-cache key
        self.sha256 = str(info["weights_sha256"])

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        if images.shape[1] == 3:  # an RGB run of a grey dataset: judge its luminance
            from ganforge.data.convert import luminance

            images = luminance(images)
        features, logits = self.model(to_input(images, self.device))
        return {"features": features.float().cpu(), "logprobs": logits.float().log_softmax(1).cpu()}


class StackedEvaluator:
    """Stacked MNIST: the MNIST classifier on each channel; mode = 100 * R + 10 * G + B (1000 classes)."""

    def __init__(self, digits: DomainEvaluator):
        self.digits = digits
        self.num_classes = digits.num_classes**3
        self.name = digits.name + "-stacked"
        self.sha256 = digits.sha256
        self.info = digits.info

    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        if images.shape[1] != 3:
            raise GanforgeError(f"stacked-mnist images: got {images.shape[1]} channels, expected 3")
        per_channel = [self.digits(images[:, c : c + 1]) for c in range(3)]
        r, g, b = (p["logprobs"] for p in per_channel)
        # log p(mode) = log p(R) + log p(G) + log p(B); the reshape makes index 100 * r + 10 * g + b.
        modes = r[:, :, None, None] + g[:, None, :, None] + b[:, None, None, :]
        return {
            "features": torch.cat([p["features"] for p in per_channel], dim=1),
            "logprobs": modes.reshape(len(images), -1),
        }


def load_evaluator(dataset: str, device: torch.device | str = "cpu") -> DomainEvaluator | None:
    """The stored evaluator for ``dataset`` (mnist or fashion-mnist), or None if there is no valid one."""
    weights, sidecar = evaluator_paths(dataset)
    if not (weights.is_file() and sidecar.is_file()):
        return None
    try:
        info = json.loads(sidecar.read_text())
    except (OSError, ValueError):
        return None
    if info.get("version") != VERSION or info.get("architecture") != ARCHITECTURE:
        return None
    if info.get("weights_sha256") != file_sha256(weights):  # half-replaced or foreign file
        return None
    model = DigitCNN(len(info.get("class_names") or range(10)))
    model.load_state_dict(load_file(weights))
    return DomainEvaluator(model, info, device)


def train_evaluator(
    dataset: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    epochs: int | None = None,
    device: torch.device | str = "cpu",
    log: Callable[[str], None] = print,
    progress: bool = True,
) -> DomainEvaluator:
    """Train the classifier on ``dataset``'s train split, measure test accuracy, store it, return it."""
    if dataset not in TRAINABLE:
        raise GanforgeError(f"evaluator dataset {dataset!r}: expected one of {', '.join(TRAINABLE)}")
    epochs = DEFAULT_EPOCHS[dataset] if epochs is None else epochs
    if epochs < 1:
        raise GanforgeError(f"--epochs {epochs}: expected a positive number of epochs")
    train, test = _load_full(dataset, data_dir, log)
    start = time.perf_counter()
    model = train_classifier(train.images, train.labels, epochs=epochs, device=device, flip=FLIP[dataset],
                             num_classes=len(train.class_names), log=log, progress=progress)
    seconds = time.perf_counter() - start
    acc = accuracy(model, test.images, test.labels)
    info = {
        "format": "ganforge-evaluator",
        "version": VERSION,
        "dataset": dataset,
        "architecture": ARCHITECTURE,
        "class_names": list(train.class_names),
        "test_accuracy": acc,
        "epochs": epochs,
        "train_seconds": round(seconds, 1),
        "device": str(device),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    info["weights_sha256"] = save_evaluator(model, info)
    log(f"{dataset} evaluator: test accuracy {acc:.2%} after {epochs} epochs ({seconds:.0f}s), saved to "
        f"{evaluator_paths(dataset)[0]}")
    return DomainEvaluator(model, info, device)


def save_evaluator(model: DigitCNN, info: dict) -> str:
    """Write weights then sidecar, both atomically; returns the weights' sha256."""
    weights, sidecar = evaluator_paths(info["dataset"])
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(weights) as tmp:
        save_file(state, os.fspath(tmp), metadata={"architecture": ARCHITECTURE, "dataset": info["dataset"]})
    sha = file_sha256(weights)
    atomic_write_text(sidecar, json.dumps({**info, "weights_sha256": sha}, indent=2) + "\n")
    return sha


def get_evaluator(
    dataset: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    device: torch.device | str = "cpu",
    log: Callable[[str], None] = print,
    progress: bool = True,
) -> DomainEvaluator | StackedEvaluator:
    """The evaluator that judges images of ``dataset``; a missing one is trained first (with a notice)."""
    base = EVALUATOR_FOR.get(dataset)
    if base is None:
        raise GanforgeError(
            f"dataset {dataset!r}: domain metrics need an MNIST-family dataset ({', '.join(EVALUATOR_FOR)})"
        )
    evaluator = load_evaluator(base, device)
    if evaluator is None:
        log(f"No {base} evaluator yet: training one now (a few minutes on CPU, once; "
            f"`ganforge evaluator train --dataset {base}` does the same)")
        evaluator = train_evaluator(base, data_dir=data_dir, device=device, log=log, progress=progress)
    return StackedEvaluator(evaluator) if dataset == STACKED else evaluator


def _load_full(dataset: str, data_dir: str | os.PathLike[str] | None, log: Callable[[str], None]):
    from ganforge.data import load_dataset

    try:
        train = load_dataset(dataset, split="train", data_dir=data_dir, log=log)
        test = load_dataset(dataset, split="test", data_dir=data_dir, log=log)
    except GanforgeError as e:
        raise GanforgeError(f"cannot train the {dataset} evaluator: {e}") from e
    # mnist may fall back to the 5k shipped sample, far too few for a reference classifier.
    if train.name != dataset or train.labels is None or len(train) < 50_000:
        raise GanforgeError(
            f"cannot train the {dataset} evaluator: it needs the full {dataset} train split, got "
            f"{train.name} ({len(train)} images); run `ganforge evaluator train --dataset {dataset} --data-dir "
            f"DIR` with DIR holding {dataset}/*.gz, or set GANFORGE_DATA_DIR"
        )
    return train, test


# ---- the feature kind -------------------------------------------------------------------------------------


def has_evaluator(target: Target) -> str | None:
    if target.dataset in EVALUATOR_FOR:
        return None
    return f"needs an MNIST-family dataset ({', '.join(EVALUATOR_FOR)}); this run is {target.dataset}"


def identify(extractor: DomainEvaluator | StackedEvaluator, ctx: FeatureContext) -> ExtractorInfo:
    base, acc = extractor.info["dataset"], extractor.info.get("test_accuracy")
    accuracy_note = f" ({acc:.2%} test accuracy)" if isinstance(acc, float) else ""
    per_channel = ", applied to each channel" if ctx.dataset == STACKED else ""
    return ExtractorInfo(
        title=f"ganforge's {ARCHITECTURE} classifier trained on {base}{accuracy_note}{per_channel}: "
        f"128-d penultimate features and class log-probabilities",
        short=f"{base} classifier",
        cache_name=extractor.name,
        weights=str(evaluator_paths(base)[0]),
        weights_sha256=extractor.sha256,
        provenance={"evaluator": {"name": extractor.name, "sha256": extractor.sha256, "test_accuracy": acc}},
    )


def view(shape: tuple[int, int, int], ctx: FeatureContext) -> View:
    """What DomainEvaluator (per channel for StackedEvaluator) and classifier.to_input do to the images."""
    c, h, w = shape
    resize = f"resized to {IMAGE_SIZE}x{IMAGE_SIZE} (bilinear, antialiased)" if (h, w) != (IMAGE_SIZE,) * 2 else ""
    if ctx.dataset == STACKED:
        short = f"{describe_shape(shape)} as 3 grey digits"
        return View(short, f"{short}: each channel judged on its own" + (f", {resize}" if resize else ""))
    steps = [step for step in ("luminance (ITU-R 601-2)" if c == 3 else "", resize) if step]
    if not steps:
        short = f"{describe_shape(shape)} as is"
        return View(short, f"{short} (the classifier's own input)")
    short = f"{describe_shape(shape)} -> {IMAGE_SIZE}x{IMAGE_SIZE} grey"
    return View(short, f"{short}: {', then '.join(steps)}")


# real_at_run_shape=False: the classifier judges the real split as stored, the data it was trained on.
@register_features("domain", identify=identify, view=view, network="domain", label="domain",
                   outputs=("features", "logprobs"), batch_size=(500, 500), real_at_run_shape=False, slow=False,
                   library=("ganforge",), requires=has_evaluator)
def build_domain(ctx: FeatureContext) -> DomainEvaluator | StackedEvaluator:
    return get_evaluator(ctx.dataset, data_dir=ctx.data_dir, device=ctx.device, log=ctx.log, progress=ctx.progress)
