"""``evaluate_run``: choose the metrics, sample the run once, score every metric, print, save.

Which metrics exist, which apply to a run and what each needs all come from the registries (see
``registry``); this module only orders the steps. Scoring is ``evaluation.Evaluation``; the table and
metrics.json are ``results``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import torch

from ganforge.errors import GanforgeError
from ganforge.metrics import inception as inc
from ganforge.metrics.evaluation import CLASS_MIXES, DEFAULT_N, Evaluation, Log
from ganforge.metrics.registry import (
    METRICS,
    Metric,
    Target,
    check_applicable,
    default_metric_names,
    parse_metric_names,
)
from ganforge.metrics.results import METRICS_FILE, format_table, save_metrics

__all__ = ["METRICS_FILE", "Evaluation", "default_n", "evaluate_run", "resolve_weights", "select_metrics"]

DEFAULT_N_FOR = {"stacked-mnist": 26_000}  # PacGAN's protocol for counting stacked-mnist modes
CPU_INCEPTION_CAP = 1_000  # Inception runs ~9 images/s on 2 CPU cores: 1000 + 1000 images is ~4 minutes
MIN_N = 4  # precision/recall needs more than k = 3 neighbours


def default_n(dataset: str) -> int:
    return DEFAULT_N_FOR.get(dataset, DEFAULT_N)


def resolve_weights(
    metrics: Iterable[Metric], explicit: str | os.PathLike[str] | None = None, *, log: Log = print
) -> inc.InceptionWeights | None:
    """The Inception weights ``metrics`` need (found or downloaded), None when none need any; GanforgeError
    when they are missing or cannot serve one of the metrics."""
    wanting = [m for m in metrics if m.kind.weights is not None]
    if not wanting:
        return None
    weights = inc.resolve_inception_weights(explicit, log=log)
    for metric in wanting:
        problem = metric.kind.weights(weights)
        if problem:
            raise GanforgeError(problem)
    return weights


def select_metrics(
    requested: str | Iterable[str] | None,
    *,
    dataset: str,
    conditional: bool,
    inception_weights: str | os.PathLike[str] | None = None,
    log: Log = print,
) -> tuple[list[str], inc.InceptionWeights | None]:
    """The metric names to compute and the Inception weights they need (None when none do).

    With ``requested`` None: every default metric that applies to the run (the domain metrics for
    MNIST-family data), plus those needing Inception weights (FID/KID/PR, and IS when the weights have
    logits) if the weights are already on disk; nothing is downloaded for a default.
    """
    if requested is not None:
        names = parse_metric_names(requested)
        for name in names:
            check_applicable(METRICS[name], dataset=dataset, conditional=conditional)
        return names, resolve_weights([METRICS[name] for name in names], inception_weights, log=log)

    names = default_metric_names(Target(dataset, conditional))
    wanting = [name for name in names if METRICS[name].kind.weights is not None]
    if not wanting:
        return names, None
    found = inc.find_inception_weights(inception_weights)
    weights = inc.inspect_weights(*found) if found else None
    if weights is None:
        names = [name for name in names if name not in wanting]
        if not names:
            raise GanforgeError(f"no metric to compute for {dataset!r}: its metrics ({', '.join(wanting)}) "
                                f"need Inception weights. {inc.missing_weights_message()}")
        log(f"Inception metrics skipped. {inc.missing_weights_message()}")
        return names, None
    for name in wanting:
        problem = METRICS[name].kind.weights(weights)
        if problem:
            log(f"{METRICS[name].summary} skipped. {problem}")
            names.remove(name)
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
    device: torch.device | str | None = None,
    log: Log = print,
    progress: bool = True,
) -> dict[str, dict[str, Any]]:
    """Evaluate a loaded run (see ``ganforge.run.load_run``); returns and saves the entries of metrics.json.

    ``n`` defaults to 10,000 samples (26,000 for stacked-mnist); on CPU the Inception metrics use at most
    ``n_inception`` of them (default 1,000). Class-conditional runs are sampled in the class proportions
    of the real split (``classes="real"``) or with equal numbers per class (``classes="uniform"``).
    ``device`` runs the feature extractors (default: a GPU when there is one).
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
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if n_inception is None and device.type == "cpu":
        n_inception = min(n, CPU_INCEPTION_CAP)
    evaluation = Evaluation(names, dataset=dataset, data_dir=getattr(run.config, "data_dir", None), split=split,
                            image_shape=tuple(run.image_shape), fit=getattr(run.config, "fit", "crop"), device=device,
                            n=n, n_inception=n_inception, batch_size=batch_size, weights=weights, log=log,
                            progress=progress)
    for label in evaluation.capped():
        why = " on CPU (about 9 images/s)" if device.type == "cpu" else ""
        log(f"{label} metrics use n={evaluation.n_inception} of the {n} samples{why}; --n-inception N to change")

    count = evaluation.samples_needed()
    labels = evaluation.class_labels(count, run.num_classes, classes) if conditional else None
    start = time.perf_counter()
    images = run.generate(count, seed=seed, batch_size=batch_size or 256, labels=labels)
    log(f"Generated {count} images in {time.perf_counter() - start:.0f}s")
    results = evaluation.compute(images, labels)

    mix = classes if conditional else None
    source: dict[str, Any] = {"time": datetime.now(UTC).isoformat(timespec="seconds"), "seed": seed}
    if mix:
        source["classes"] = mix
    for attr in ("step", "checkpoint"):  # where the run has them
        if getattr(run, attr, None) is not None:
            source[attr] = str(getattr(run, attr)) if attr == "checkpoint" else getattr(run, attr)
    entries = {name: {**results[name], **evaluation.provenance(METRICS[name], seed=seed, classes=mix), **source}
               for name in names}
    named = getattr(run, "shipped", None) or run.path
    log(format_table(entries, title=f"Metrics for {named} (real: {evaluation.real_dataset} {evaluation.split} "
                                    "split)"))
    log(evaluation.protocol_line(seed=seed, classes=mix))
    # A generator that ships inside ganforge is package data: its metrics go beside the current directory.
    path = save_metrics(getattr(run, "outputs_dir", run.path), entries, log=log)
    log(f"Saved to {path}")
    return entries
