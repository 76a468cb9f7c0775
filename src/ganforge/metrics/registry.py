"""The metric registry: one entry per metric name, with the features it needs and its direction."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch

from ganforge.errors import GanforgeError
from ganforge.metrics import domain, standard

# Feature kinds. "inception-logits" is the same Inception pass, with its 1008-class logits kept.
INCEPTION = "inception"
INCEPTION_LOGITS = "inception-logits"
DOMAIN = "domain"


@dataclass
class MetricInputs:
    """What a metric function sees: features of its kind for the generated (and real) images."""

    fake: dict[str, torch.Tensor]
    real: dict[str, torch.Tensor] | None
    labels: torch.Tensor | None  # the class each generated image was asked for (conditional runs)
    dataset: str


@dataclass(frozen=True)
class Metric:
    name: str
    fn: Callable[[MetricInputs], dict[str, Any]]
    features: str  # INCEPTION, INCEPTION_LOGITS or DOMAIN
    needs_real: bool  # compares with real-split features (cached on disk)
    lower_is_better: bool
    keys: tuple[str, ...]  # the numbers shown in the table; keys[0] is the headline
    summary: str
    only_for: str | None = None  # "conditional" or a dataset name the metric is limited to

    @property
    def inception(self) -> bool:
        return self.features in (INCEPTION, INCEPTION_LOGITS)


METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        Metric("fid", standard.fid, INCEPTION, True, True, ("fid",), "Frechet Inception Distance"),
        Metric("kid", standard.kid, INCEPTION, True, True, ("kid_mean", "kid_std"),
               "Kernel Inception Distance"),
        Metric("is", standard.inception_score, INCEPTION_LOGITS, False, False, ("is_mean", "is_std"),
               "Inception Score (needs the full weights with logits)"),
        Metric("pr", standard.precision_recall, INCEPTION, True, False, ("precision", "recall"),
               "precision/recall, k=3 (Kynkaanniemi et al.)"),
        Metric("domain-fid", domain.domain_fid, DOMAIN, True, True, ("domain_fid",),
               "Frechet distance on the domain classifier's features"),
        Metric("domain-is", domain.domain_is, DOMAIN, False, False, ("domain_is_mean", "domain_is_std"),
               "Inception Score with the domain classifier"),
        Metric("class-kl", domain.class_kl, DOMAIN, True, True, ("class_kl", "mode_collapse"),
               "KL(generated class histogram || real); flags mode collapse"),
        Metric("confident", domain.confident, DOMAIN, False, False, ("confident",),
               "share of samples classified with probability > 0.9"),
        Metric("modes", domain.modes, DOMAIN, False, False,
               ("modes", "modes_kl", "modes_kl_channels", "modes_kl_dependence"),
               "stacked-mnist modes covered of 1000, KL to uniform (per channel + dependence)",
               only_for="stacked-mnist"),
        Metric("class-accuracy", domain.class_accuracy, DOMAIN, False, False, ("class_accuracy",),
               "share classified as the requested class", only_for="conditional"),
    ]
}
ALIASES = {"mode-collapse": "class-kl", "isc": "is", "prc": "pr"}


def valid_names() -> str:
    return ", ".join(list(METRICS) + list(ALIASES))


def parse_metric_names(spec: str | Iterable[str]) -> list[str]:
    """'fid,kid' or ['fid', 'kid'] -> canonical names, in order, without repeats; GanforgeError if unknown."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    names: list[str] = []
    for item in items:
        name = item.strip().lower()
        if not name:
            continue
        name = ALIASES.get(name, name)
        if name not in METRICS:
            raise GanforgeError(f"--metrics: unknown metric {item.strip()!r}; valid names: {valid_names()}")
        if name not in names:
            names.append(name)
    if not names:
        raise GanforgeError(f"--metrics: no metric given; valid names: {valid_names()}")
    return names


def check_applicable(metric: Metric, *, dataset: str, conditional: bool) -> None:
    if metric.only_for == "conditional" and not conditional:
        raise GanforgeError(f"metric {metric.name!r}: needs a class-conditional run; this run has no classes")
    if metric.only_for not in (None, "conditional") and dataset != metric.only_for:
        raise GanforgeError(f"metric {metric.name!r}: only for {metric.only_for} runs; this run is {dataset}")
    if metric.features == DOMAIN:
        from ganforge.metrics.evaluator import EVALUATOR_FOR

        if dataset not in EVALUATOR_FOR:
            raise GanforgeError(
                f"metric {metric.name!r}: needs an MNIST-family dataset ({', '.join(EVALUATOR_FOR)}); "
                f"this run is {dataset}"
            )


def domain_metric_names(dataset: str, *, conditional: bool) -> list[str]:
    """The default domain metrics for a dataset (empty when it has no domain evaluator)."""
    from ganforge.metrics.evaluator import EVALUATOR_FOR

    if dataset not in EVALUATOR_FOR:
        return []
    names = ["domain-fid", "domain-is", "class-kl", "confident"]
    if dataset == "stacked-mnist":
        names.append("modes")
    if conditional:
        names.append("class-accuracy")
    return names
