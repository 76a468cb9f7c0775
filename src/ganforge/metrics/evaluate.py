"""``evaluate_run``: sample once, extract each feature kind once, compute every metric, print, save.

The real side of every comparison (the dataset split's features) is cached on disk by ``stats_cache``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any

import torch

from ganforge.errors import GanforgeError
from ganforge.fileio import atomic_write_text
from ganforge.metrics import inception as inc
from ganforge.metrics.features import extract
from ganforge.metrics.realdata import cache_name, class_mix, load_real_images, real_class_counts, real_source
from ganforge.metrics.registry import (
    DOMAIN,
    INCEPTION_LOGITS,
    METRICS,
    Metric,
    MetricInputs,
    check_applicable,
    domain_metric_names,
    parse_metric_names,
)
from ganforge.metrics.stats_cache import StatsKey, cached_features

DEFAULT_N = 10_000
STACKED_N = 26_000  # PacGAN's protocol for counting stacked-mnist modes
CPU_INCEPTION_CAP = 1_000  # Inception runs ~9 images/s on 2 CPU cores: 1000 + 1000 images is ~4 minutes
MIN_N = 4  # precision/recall needs more than k = 3 neighbours
CLASS_MIXES = ("real", "uniform")  # how a conditional run's samples are spread over its classes
METRICS_FILE = "metrics.json"
Log = Callable[[str], None]


def default_n(dataset: str) -> int:
    return STACKED_N if dataset == "stacked-mnist" else DEFAULT_N


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
        self.dataset, self.data_dir, self.image_shape = dataset, data_dir, image_shape
        self.real_dataset, self.split = real_source(dataset, split, log)
        self.device = torch.device(device)
        self.n = n
        self.n_inception = n if n_inception is None else min(n, n_inception)
        self.batch_size, self.weights, self.log, self.progress = batch_size, weights, log, progress
        self.report_timings = report_timings  # off in training loops, which log every few steps
        self._extractors: dict[str, Any] = {}
        self._real: dict[str, dict[str, torch.Tensor]] = {}
        self._class_counts: dict[int, torch.Tensor] = {}
        if any(m.inception for m in self.metrics) and weights is None:
            raise GanforgeError(inc.missing_weights_message())

    @property
    def kinds(self) -> list[str]:
        """Feature extractors needed: "domain" and/or "inception"."""
        return sorted({DOMAIN if m.features == DOMAIN else "inception" for m in self.metrics})

    def samples_needed(self) -> int:
        kinds = self.kinds
        return max(self.n if DOMAIN in kinds else 0, self.n_inception if "inception" in kinds else 0)

    def extractor(self, kind: str) -> Any:
        if kind not in self._extractors:
            if kind == DOMAIN:
                from ganforge.metrics.evaluator import get_evaluator

                self._extractors[kind] = get_evaluator(
                    self.dataset, data_dir=self.data_dir, device=self.device, log=self.log, progress=self.progress
                )
            else:
                logits = any(m.features == INCEPTION_LOGITS for m in self.metrics)
                self._extractors[kind] = inc.InceptionExtractor(self.weights, self.device, logits=logits)
        return self._extractors[kind]

    def _batch(self, kind: str) -> int:
        if self.batch_size is not None:
            return self.batch_size
        if kind == DOMAIN:
            return 500
        return 64 if self.device.type == "cuda" else 10  # small CPU batches measured faster for Inception

    def real(self, kind: str) -> dict[str, torch.Tensor]:
        """Real-split features for ``kind``, from the disk cache or extracted now."""
        if kind in self._real:
            return self._real[kind]
        ext = self.extractor(kind)
        n = self.n if kind == DOMAIN else self.n_inception
        # The classifier sees native 28x28 data; Inception sees real images shaped like the run's.
        shape = None if kind == DOMAIN else self.image_shape
        sha = ext.sha256 if kind == DOMAIN else self.weights.sha256
        name = ext.name if kind == DOMAIN else f"{ext.name}-2048"
        key = StatsKey(cache_name(self.real_dataset), self.split, shape, n, name, sha)

        def compute() -> dict[str, torch.Tensor]:
            images = load_real_images(self.real_dataset, self.split, n, data_dir=self.data_dir, shape=shape,
                                      log=self.log)
            start = time.perf_counter()
            out = extract(ext, images, batch_size=self._batch(kind), progress=self.progress,
                          desc=f"{kind} features ({self.split} split)")
            self.log(f"{kind} features of {len(images)} real {self.real_dataset} {self.split} images: "
                     f"{time.perf_counter() - start:.0f}s (cached for next time)")
            return {"2048": out["2048"]} if kind != DOMAIN else out

        self._real[kind] = cached_features(key, compute, log=self.log)
        return self._real[kind]

    def class_labels(self, n: int, num_classes: int, mix: str = "real") -> torch.Tensor:
        """``n`` labels for sampling a conditional run: in the class proportions of the real split the
        samples are compared with ("real"; MNIST's test split has 1,135 ones but 892 fives), or equal
        numbers of each class ("uniform"). Sampling another mix than the real one adds to the FID a
        distance that says nothing of the generator."""
        if mix not in CLASS_MIXES:
            raise GanforgeError(f"class mix {mix!r}: expected one of {', '.join(CLASS_MIXES)}")
        if mix == "uniform":
            return class_mix(torch.ones(num_classes), n)
        if num_classes not in self._class_counts:
            self._class_counts[num_classes] = real_class_counts(self.real_dataset, self.split, num_classes,
                                                                data_dir=self.data_dir, log=self.log)
        return class_mix(self._class_counts[num_classes], n)

    def prepare(self) -> None:
        """Compute (or load) every real feature set now, e.g. before a training loop starts."""
        for kind in self.kinds:
            if any(m.needs_real for m in self.metrics if _kind(m) == kind):
                self.real(kind)

    def compute(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, dict[str, Any]]:
        """Score generated uint8 images: the first ``n`` for domain metrics, ``n_inception`` for Inception."""
        fake: dict[str, dict[str, torch.Tensor]] = {}
        for kind in self.kinds:
            count = self.n if kind == DOMAIN else self.n_inception
            start = time.perf_counter()
            fake[kind] = extract(self.extractor(kind), images[:count], batch_size=self._batch(kind),
                                 desc=f"{kind} features (generated)", progress=self.progress)
            if self.report_timings:
                self.log(f"{kind} features of {min(count, len(images))} generated images: "
                         f"{time.perf_counter() - start:.0f}s")
        results = {}
        for metric in self.metrics:
            kind = _kind(metric)
            real = self.real(kind) if metric.needs_real else None
            inputs = MetricInputs(fake=fake[kind], real=real, labels=labels, dataset=self.dataset)
            results[metric.name] = metric.fn(inputs)
        return results

    def provenance(self, metric: Metric) -> dict[str, Any]:
        """Where a metric's numbers came from, saved next to them in metrics.json."""
        kind = _kind(metric)
        info: dict[str, Any] = {
            "n": self.n if kind == DOMAIN else self.n_inception,
            "real": f"{self.real_dataset}/{self.split}",
            "lower_is_better": metric.lower_is_better,
        }
        if metric.needs_real:
            info["n_real"] = len(next(iter(self.real(kind).values())))
        if kind == DOMAIN:
            ext = self.extractor(DOMAIN)
            info["evaluator"] = {"name": ext.name, "sha256": ext.sha256,
                                 "test_accuracy": ext.info.get("test_accuracy")}
        else:
            info["inception_weights"] = self.weights.describe()
        return info


def _kind(metric: Metric) -> str:
    return DOMAIN if metric.features == DOMAIN else "inception"


def select_metrics(
    requested: str | Iterable[str] | None,
    *,
    dataset: str,
    conditional: bool,
    inception_weights: str | os.PathLike[str] | None = None,
    log: Log = print,
) -> tuple[list[str], inc.InceptionWeights | None]:
    """The metric names to compute and the Inception weights they need (None when none do).

    With ``requested`` None: the domain metrics for MNIST-family data, plus FID/KID/PR (and IS when the
    weights have logits) if Inception weights are already on disk; nothing is downloaded for a default.
    """
    if requested is None:
        names = domain_metric_names(dataset, conditional=conditional)
        found = inc.find_inception_weights(inception_weights)
        weights = inc.inspect_weights(*found) if found else None
        if weights is None:
            log(f"Inception metrics skipped. {inc.missing_weights_message()}")
        else:
            names += ["fid", "kid", "pr"]
            if weights.has_logits:
                names.append("is")
            else:
                log(f"Inception Score skipped: {weights.path} has no logits layer (an FID/KID/PR-only file)")
        if not names:
            raise GanforgeError(f"no metric to compute for {dataset!r}: {inc.missing_weights_message()}")
        return names, weights
    names = parse_metric_names(requested)
    for name in names:
        check_applicable(METRICS[name], dataset=dataset, conditional=conditional)
    if not any(METRICS[name].inception for name in names):
        return names, None
    weights = inc.resolve_inception_weights(inception_weights, log=log)
    if "is" in names and not weights.has_logits:
        raise GanforgeError(inc.inception_score_unavailable_message(weights))
    return names, weights


def evaluate_run(
    run: Any,
    metrics: str | Iterable[str] | None = None,
    n: int | None = None,
    split: str = "test",
    batch_size: int | None = None,
    inception_weights: str | os.PathLike[str] | None = None,
    *,
    n_inception: int | None = None,
    seed: int = 0,
    classes: str = "real",
    log: Log = print,
    progress: bool = True,
) -> dict[str, dict[str, Any]]:
    """Evaluate a loaded run (see ``ganforge.run.load_run``); returns and saves the entries of metrics.json.

    ``n`` defaults to 10,000 samples (26,000 for stacked-mnist); on CPU the Inception metrics use at most
    ``n_inception`` of them (default 1,000). Class-conditional runs are sampled in the class proportions
    of the real split (``classes="real"``) or with equal numbers per class (``classes="uniform"``).
    """
    dataset = run.config.dataset
    conditional = run.num_classes is not None
    names, weights = select_metrics(metrics, dataset=dataset, conditional=conditional,
                                    inception_weights=inception_weights, log=log)
    n = default_n(dataset) if n is None else n
    if classes not in CLASS_MIXES:
        raise GanforgeError(f"--classes {classes}: expected one of {', '.join(CLASS_MIXES)}")
    if n < MIN_N or (n_inception is not None and n_inception < MIN_N):
        raise GanforgeError(f"--n {n} / --n-inception {n_inception}: expected at least {MIN_N} samples")
    device = torch.device(run.device)
    if n_inception is None and device.type == "cpu":
        n_inception = min(n, CPU_INCEPTION_CAP)
    evaluation = Evaluation(names, dataset=dataset, data_dir=getattr(run.config, "data_dir", None),
                            split=split, image_shape=tuple(run.image_shape), device=device, n=n,
                            n_inception=n_inception,
                            batch_size=batch_size, weights=weights, log=log, progress=progress)
    if "inception" in evaluation.kinds and evaluation.n_inception < n:
        why = " on CPU (about 9 images/s)" if device.type == "cpu" else ""
        log(f"Inception metrics use n={evaluation.n_inception} of the {n} samples{why}; "
            "--n-inception N to change")

    count = evaluation.samples_needed()
    labels = evaluation.class_labels(count, run.num_classes, classes) if conditional else None
    start = time.perf_counter()
    images = run.generate(count, seed=seed, batch_size=batch_size or 256, labels=labels)
    log(f"Generated {count} images in {time.perf_counter() - start:.0f}s")
    results = evaluation.compute(images, labels)

    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    source: dict[str, Any] = {"time": stamp, "seed": seed}
    if conditional:
        source["classes"] = classes
    for attr in ("step", "checkpoint"):
        if getattr(run, attr, None) is not None:
            source[attr] = str(getattr(run, attr)) if attr == "checkpoint" else getattr(run, attr)
    entries = {name: {**results[name], **evaluation.provenance(METRICS[name]), **source} for name in names}
    title = f"Metrics for {run.path} (real: {evaluation.real_dataset} {evaluation.split} split)"
    log(format_table(entries, title=title))
    path = save_metrics(run.path, entries, log=log)
    log(f"Saved to {path}")
    return entries


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "ALARM" if value else "ok"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_result(metric: Metric, entry: dict[str, Any]) -> str:
    """The table cell: the headline number, then the others ("a ± b" for mean/std pairs)."""
    keys = [key for key in metric.keys if key in entry]
    parts = []
    for i, key in enumerate(keys):
        if key.endswith("_std") and parts and keys[i - 1].endswith("_mean"):
            parts[-1] += f" ± {format_value(entry[key])}"
        elif i == 0 and (len(keys) == 1 or (len(keys) == 2 and key.endswith("_mean"))):
            parts.append(format_value(entry[key]))
        else:
            parts.append(f"{key.removesuffix('_mean')} {format_value(entry[key])}")
    return ", ".join(parts)


def format_table(entries: dict[str, dict[str, Any]], title: str = "") -> str:
    rows = [("metric", "n", "better", "result")]
    for name, entry in entries.items():
        metric = METRICS[name]
        better = "lower" if metric.lower_is_better else "higher"
        rows.append((name, str(entry.get("n", "")), better, format_result(metric, entry)))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [title] if title else []
    for row in rows:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths)) + "  " + row[3])
    return "\n".join(lines)


def save_metrics(run_dir: str | os.PathLike[str], entries: dict[str, dict[str, Any]], *, log: Log = print):
    """Merge ``entries`` into ``run_dir/metrics.json`` atomically (one entry per metric; newest wins)."""
    path = os.path.join(run_dir, METRICS_FILE)
    merged: dict[str, Any] = {}
    if os.path.isfile(path):
        try:
            with open(path, encoding="utf-8") as f:
                merged = json.load(f)
        except (OSError, ValueError) as e:
            log(f"Replacing unreadable {path}: {e}")
        if not isinstance(merged, dict):
            merged = {}
    merged.update(entries)
    atomic_write_text(path, json.dumps(merged, indent=2) + "\n")
    return path
