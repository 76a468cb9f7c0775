"""``Evaluation``: a fixed set of metrics against one dataset split, ready to score any batch of generated images.

Everything that depends on a metric or a feature kind comes from the registries: each network (one extractor)
runs once over the images however many metrics read its features, and its real side is cached on disk by
``stats_cache``. Each number is saved with its protocol: what was compared with what, through which network,
resized how, computed by which library.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from importlib import metadata
from typing import Any

import torch

from ganforge.errors import GanforgeError
from ganforge.metrics import inception as inc
from ganforge.metrics.features import extract
from ganforge.metrics.realdata import cache_name as dataset_cache_name
from ganforge.metrics.realdata import class_mix, load_real, real_class_counts, real_source, resize_name
from ganforge.metrics.registry import METRICS, FeatureContext, FeatureKind, Metric, MetricInputs
from ganforge.metrics.stats_cache import StatsKey, cached_with_notes
from ganforge.version import __version__

DEFAULT_N = 10_000
CLASS_MIXES = ("real", "uniform")  # how a conditional run's samples are spread over its classes
Log = Callable[[str], None]


class Network:
    """One extractor and its pass over the images, shared by every selected feature kind that names it."""

    def __init__(self, kind: FeatureKind):
        self.kind = kind  # the first of its kinds among the metrics: kinds of one network agree on how it runs
        self.outputs: set[str] = set()  # what the metrics read from the generated images
        self.real_outputs: set[str] = set()  # what they read from the real ones (and what is cached)
        self.extractor: Any = None
        self.real: dict[str, torch.Tensor] | None = None
        self.real_notes: dict[str, str] = {}
        self.used = 0  # generated images scored in the last compute()


class Evaluation:
    """A fixed set of metrics against one dataset split, ready to score any batch of generated images.

    Extractors are built lazily and real features come from the stats cache, each at most once.
    """

    def __init__(
        self,
        names: Iterable[str],
        *,
        dataset: str,
        data_dir: str | os.PathLike[str] | None = None,
        split: str = "test",
        image_shape: tuple[int, int, int] | None = None,
        fit: str = "crop",
        device: torch.device | str = "cpu",
        n: int = DEFAULT_N,
        n_inception: int | None = None,
        batch_size: int | None = None,
        weights: inc.InceptionWeights | None = None,
        log: Log = print,
        progress: bool = True,
        report_timings: bool = True,
    ):
        self.metrics: list[Metric] = [METRICS[name] for name in names]
        self.dataset, self.data_dir, self.image_shape, self.fit = dataset, data_dir, image_shape, fit
        self.real_dataset, self.split = real_source(dataset, split, log)
        self.device = torch.device(device)
        self.n = n
        self.n_inception = n if n_inception is None else min(n, n_inception)
        self.batch_size, self.weights, self.log, self.progress = batch_size, weights, log, progress
        self.report_timings = report_timings  # off in training loops, which log every few steps
        self.networks: dict[str, Network] = {}
        for metric in self.metrics:
            kind = metric.kind
            network = self.networks.setdefault(kind.network, Network(kind))
            network.outputs.update(kind.outputs)
            if metric.needs_real:
                network.real_outputs.update(kind.outputs)
        if weights is None and any(m.kind.weights is not None for m in self.metrics):
            raise GanforgeError(inc.missing_weights_message())
        self._class_counts: dict[int, torch.Tensor] = {}
        self._shape: tuple[int, int, int] | None = None  # of the generated images last scored
        self._labels: torch.Tensor | None = None
        self._num_classes = 0  # of the last class_labels() call

    def samples_for(self, kind: FeatureKind) -> int:
        return self.n_inception if kind.slow else self.n

    def samples_needed(self) -> int:
        return max(self.samples_for(network.kind) for network in self.networks.values())

    def capped(self) -> list[str]:
        """Labels of the networks that score fewer samples than ``n`` (the slow ones, when n_inception < n)."""
        return [net.kind.label for net in self.networks.values() if self.samples_for(net.kind) < self.n]

    def _network(self, metric: Metric) -> Network:
        return self.networks[metric.kind.network]

    def context(self, network: Network) -> FeatureContext:
        return FeatureContext(dataset=self.dataset, data_dir=self.data_dir, device=self.device, weights=self.weights,
                              outputs=frozenset(network.outputs), log=self.log, progress=self.progress)

    def extractor(self, network: Network) -> Any:
        if network.extractor is None:
            network.extractor = network.kind.build(self.context(network))
        return network.extractor

    def _batch(self, kind: FeatureKind) -> int:
        if self.batch_size is not None:
            return self.batch_size
        return kind.batch_size[self.device.type == "cuda"]

    def real(self, network: Network) -> dict[str, torch.Tensor]:
        """Real-split features for ``network``, from the disk cache or extracted now."""
        if network.real is not None:
            return network.real
        kind, ext = network.kind, self.extractor(network)
        info = kind.identify(ext, self.context(network))
        n = self.samples_for(kind)
        shape = self.image_shape if kind.real_at_run_shape else None
        outputs = sorted(network.real_outputs)
        key = StatsKey(dataset_cache_name(self.real_dataset), self.split, shape, n,
                       f"{info.cache_name}-{'-'.join(outputs)}", info.weights_sha256,
                       resize_name(self.fit) if shape else "")

        def compute() -> tuple[dict[str, torch.Tensor], dict[str, str]]:
            real = load_real(self.real_dataset, self.split, n, data_dir=self.data_dir, shape=shape, fit=self.fit,
                             log=self.log)
            start = time.perf_counter()
            out = extract(ext, real.images, batch_size=self._batch(kind), progress=self.progress,
                          desc=f"{kind.label} features ({self.split} split)")
            self.log(f"{kind.label} features of {len(real.images)} real {self.real_dataset} {self.split} images: "
                     f"{time.perf_counter() - start:.0f}s (cached for next time)")
            notes = {"images": real.description, "shape": "x".join(map(str, real.images.shape[1:]))}
            return {k: out[k] for k in outputs}, notes

        network.real, network.real_notes = cached_with_notes(key, compute, log=self.log)
        return network.real

    def class_labels(self, n: int, num_classes: int, mix: str = "real") -> torch.Tensor:
        """``n`` labels for sampling a conditional run: in the class proportions of the real split the
        samples are compared with ("real"; MNIST's test split has 1,135 ones but 892 fives), or equal
        numbers of each class ("uniform"). Sampling another mix than the real one adds to the FID a
        distance that says nothing of the generator."""
        if mix not in CLASS_MIXES:
            raise GanforgeError(f"class mix {mix!r}: expected one of {', '.join(CLASS_MIXES)}")
        self._num_classes = num_classes
        if mix == "uniform":
            return class_mix(torch.ones(num_classes), n)
        if num_classes not in self._class_counts:
            self._class_counts[num_classes] = real_class_counts(self.real_dataset, self.split, num_classes,
                                                                data_dir=self.data_dir, log=self.log)
        return class_mix(self._class_counts[num_classes], n)

    def prepare(self) -> None:
        """Compute (or load) every real feature set now, e.g. before a training loop starts."""
        for network in self.networks.values():
            if network.real_outputs:
                self.real(network)

    def compute(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, dict[str, Any]]:
        """Score generated uint8 images: the first ``n`` for most metrics, ``n_inception`` for slow features."""
        self._shape, self._labels = tuple(images.shape[1:]), labels
        fake: dict[str, dict[str, torch.Tensor]] = {}
        for name, network in self.networks.items():
            kind = network.kind
            network.used = min(self.samples_for(kind), len(images))
            start = time.perf_counter()
            fake[name] = extract(self.extractor(network), images[: network.used], batch_size=self._batch(kind),
                                 desc=f"{kind.label} features (generated)", progress=self.progress)
            if self.report_timings:
                self.log(f"{kind.label} features of {network.used} generated images: "
                         f"{time.perf_counter() - start:.0f}s")
        results = {}
        for metric in self.metrics:
            network = self._network(metric)
            real = self.real(network) if metric.needs_real else None
            inputs = MetricInputs(fake=fake[metric.kind.network], real=real, labels=labels, dataset=self.dataset)
            results[metric.name] = metric.fn(inputs)
        return results

    def provenance(self, metric: Metric, *, seed: int | None = None, classes: str | None = None) -> dict[str, Any]:
        """Where a metric's numbers came from, saved next to them in metrics.json (after ``compute``)."""
        network = self._network(metric)
        info = metric.kind.identify(self.extractor(network), self.context(network))
        entry: dict[str, Any] = {"n": network.used, "real": f"{self.real_dataset}/{self.split}",
                                 "lower_is_better": metric.lower_is_better}
        if metric.needs_real:
            entry["n_real"] = self._n_real(network)
        return {**entry, **info.provenance, "protocol": self.protocol(metric, seed=seed, classes=classes)}

    def protocol(self, metric: Metric, *, seed: int | None, classes: str | None) -> dict[str, Any]:
        """Everything a number depends on besides the generator: compare two numbers only if these agree."""
        network, kind = self._network(metric), metric.kind
        ctx = self.context(network)
        info = kind.identify(self.extractor(network), ctx)
        real_view = None
        if metric.needs_real:
            real_shape = network.real_notes.get("shape")
            shape = tuple(int(v) for v in real_shape.split("x")) if real_shape else self._shape
            real_view = f"{network.real_notes.get('images', 'not recorded')}; then {kind.view(shape, ctx).detail}"
        out: dict[str, Any] = {
            "n": network.used,
            "seed": seed,
            "real": self.real_dataset if metric.needs_real else None,
            "split": self.split if metric.needs_real else None,
            "n_real": self._n_real(network) if metric.needs_real else None,
            "features": kind.name,
            "extractor": info.title,
            "weights": info.weights,
            "weights_sha256": info.weights_sha256,
            "resize_generated": kind.view(self._shape, ctx).detail,
            "resize_real": real_view,
            "library": libraries(metric.libraries),
        }
        if self._labels is not None and classes is not None:
            asked = self._labels[: network.used]
            out["classes"] = {"mix": classes, "counts": torch.bincount(asked, minlength=self._num_classes).tolist()}
        return out

    def protocol_line(self, *, seed: int, classes: str | None = None) -> str:
        """The protocol of every number in one line (after ``compute``), e.g. "protocol: 10,000 samples (seed 0)
        vs 10,000 mnist test images; Inception-v3 TF weights (sha256 d34bf1c2...) via torch-fidelity 0.4.0;
        28x28 grey -> 299x299 RGB; classes in the test split's mix"."""
        parts = []
        for network in self.networks.values():
            metrics = [m for m in self.metrics if self._network(m) is network]
            ctx = self.context(network)
            info = network.kind.identify(self.extractor(network), ctx)
            text = f"{network.used:,} samples (seed {seed})"
            if any(m.needs_real for m in metrics):
                text += f" vs {self._n_real(network):,} {self.real_dataset} {self.split} images"
            used = libraries(tuple(dict.fromkeys(lib for m in metrics for lib in m.libraries)), sep=" + ")
            text += (f"; {info.short} (sha256 {info.weights_sha256[:8]}...) via {used}; "
                     f"{network.kind.view(self._shape, ctx).short}")
            parts.append(text if len(self.networks) == 1 else f"{network.kind.label} metrics: {text}")
        line = "protocol: " + " | ".join(parts)
        if classes is not None:
            line += f"; classes in the {self.split} split's mix" if classes == "real" else "; classes equally often"
        return line

    def _n_real(self, network: Network) -> int:
        return len(next(iter(self.real(network).values())))


def libraries(names: tuple[str, ...], sep: str = ", ") -> str:
    """("ganforge", "torch-fidelity") -> "ganforge 0.1.0, torch-fidelity 0.4.0"."""
    return sep.join(f"{name} {__version__ if name == 'ganforge' else metadata.version(name)}" for name in names)
