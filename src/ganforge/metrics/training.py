"""Metrics during training: a callable the trainer runs every so often on freshly generated images.

Real features are computed (or loaded from the stats cache) once at construction; each call only
generates ``n`` images and extracts their features. Domain FID on 5,000 samples costs a few seconds on CPU.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch

from ganforge.errors import GanforgeError
from ganforge.metrics.evaluate import resolve_weights
from ganforge.metrics.evaluation import Evaluation
from ganforge.metrics.registry import METRICS, check_applicable, parse_metric_names

GenerateFn = Callable[[int, int, torch.Tensor | None], torch.Tensor]  # (n, seed, labels) -> uint8 N x C x H x W


class TrainingEvaluator:
    """``evaluator(generate) -> {"domain_fid": 12.3}``; ``.name``, ``.key``, ``.lower_is_better`` for logs."""

    def __init__(self, evaluation: Evaluation, *, seed: int = 0, num_classes: int | None = None):
        self.evaluation = evaluation
        # A conditional run is asked for the real split's class mix, as `ganforge eval` does by default.
        self.labels = evaluation.class_labels(evaluation.samples_needed(), num_classes) if num_classes else None
        metric = evaluation.metrics[0]
        self.name = metric.name
        self.key = metric.keys[0]  # the headline number, e.g. for "best checkpoint" bookkeeping
        self.lower_is_better = metric.lower_is_better
        self.seed = seed

    def __call__(self, generate: GenerateFn) -> dict[str, float]:
        images = generate(self.evaluation.samples_needed(), self.seed, self.labels).cpu()
        result = self.evaluation.compute(images)[self.name]
        # Only scalars: the trainer logs these next to its losses.
        return {k: float(v) for k, v in result.items() if isinstance(v, int | float)}


def make_training_evaluator(
    metric: str,
    *,
    dataset: str,
    data_dir: str | os.PathLike[str] | None,
    device: torch.device | str,
    n: int = 5000,
    split: str = "test",
    image_shape: tuple[int, int, int] | None = None,
    fit: str = "crop",
    inception_weights: str | os.PathLike[str] | None = None,
    seed: int = 0,
    num_classes: int | None = None,
    log: Callable[[str], None] = print,
) -> TrainingEvaluator:
    """A cheap evaluator for one metric (e.g. "domain-fid"); any metric that needs no class labels works.

    ``image_shape`` (C, H, W) converts the real images to the generator's shape for Inception metrics, made
    square as the run's ``fit`` says;
    ``num_classes`` (a conditional run) samples the real split's class mix.
    """
    names = parse_metric_names(metric)
    if len(names) != 1:
        raise GanforgeError(f"training metric {metric!r}: give exactly one metric name")
    chosen = METRICS[names[0]]
    check_applicable(chosen, dataset=dataset, conditional=False)
    weights = resolve_weights([chosen], inception_weights, log=log)
    evaluation = Evaluation(names, dataset=dataset, data_dir=data_dir, split=split, image_shape=image_shape,
                            fit=fit, device=device, n=n, weights=weights, log=log, progress=False,
                            report_timings=False)
    evaluation.prepare()
    return TrainingEvaluator(evaluation, seed=seed, num_classes=num_classes)
