"""The metric and feature registries: a metric is one decorated function, a feature kind one decorated builder.

    @register_metric("fid", features="inception", needs_real=True, lower_is_better=True, keys=("fid",),
                     summary="Frechet Inception Distance", default=True)
    def fid(x: MetricInputs) -> dict[str, float]: ...

This module imports none of the modules that register entries, so there is no import cycle; ``catalog``
imports every one of them and ``ganforge.metrics`` imports ``catalog``, so both registries are complete as
soon as the package is imported.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch

from ganforge.errors import GanforgeError

Shape = tuple[int, int, int]  # C, H, W
Extractor = Callable[[torch.Tensor], dict[str, torch.Tensor]]  # uint8 N x C x H x W -> named N x D features


@dataclass(frozen=True)
class Target:
    """What decides whether a metric applies to a run."""

    dataset: str
    conditional: bool


# A predicate on the run: None when the run qualifies, else what it lacks ("needs a class-conditional run; ...").
Requirement = Callable[[Target], "str | None"]
# A check of the Inception weights a kind would run with: None when they serve, else why they cannot.
WeightsCheck = Callable[[Any], "str | None"]


def conditional_runs(target: Target) -> str | None:
    return None if target.conditional else "needs a class-conditional run; this run has no classes"


def dataset_only(name: str) -> Requirement:
    def check(target: Target) -> str | None:
        return None if target.dataset == name else f"only for {name} runs; this run is {target.dataset}"

    return check


@dataclass
class MetricInputs:
    """What a metric function sees: features of its kind for the generated (and real) images."""

    fake: dict[str, torch.Tensor]
    real: dict[str, torch.Tensor] | None
    labels: torch.Tensor | None  # the class each generated image was asked for (conditional runs)
    dataset: str


@dataclass(frozen=True)
class FeatureContext:
    """What building (and describing) an extractor may use."""

    dataset: str
    data_dir: str | os.PathLike[str] | None
    device: torch.device
    weights: Any  # InceptionWeights for kinds with a weights check, else None
    outputs: frozenset[str]  # every output the selected metrics read from this network
    log: Callable[[str], None]
    progress: bool


@dataclass(frozen=True)
class ExtractorInfo:
    """Which network computed the features: recorded beside every number, part of the stats-cache key."""

    title: str  # e.g. "Inception-v3 (TF 2015-12-05 weights, torch-fidelity's port), 2048-d pool features"
    short: str  # the same in a few words, for the one-line protocol
    cache_name: str  # names the network in stats-cache file names
    weights: str  # the weights file
    weights_sha256: str
    provenance: dict[str, Any]  # flat keys saved beside each number (e.g. "inception_weights")


class View(NamedTuple):
    """What an extractor does to an image of a given shape before its network sees it."""

    short: str  # "28x28 grey -> 299x299 RGB"
    detail: str  # the same, saying how


@dataclass(frozen=True)
class FeatureKind:
    name: str
    build: Callable[[FeatureContext], Extractor]
    identify: Callable[[Any, FeatureContext], ExtractorInfo]
    view: Callable[[Shape, FeatureContext], View]
    network: str  # kinds naming the same network share one extractor and one pass over the images
    label: str  # in messages: "Inception metrics use n=1000 of the 10000 samples"
    outputs: tuple[str, ...]  # the feature keys this kind's metrics read
    batch_size: tuple[int, int]  # images per batch on CPU, on GPU
    real_at_run_shape: bool  # real images converted to the run's (C, H, W); else used as stored
    slow: bool  # gets n_inception samples (capped on CPU) instead of n
    library: tuple[str, ...]  # distributions whose code computes its metrics
    requires: Requirement | None = None
    weights: WeightsCheck | None = None  # None: needs no Inception weights


@dataclass(frozen=True)
class Metric:
    name: str
    fn: Callable[[MetricInputs], dict[str, Any]]
    features: str  # a FEATURES name
    needs_real: bool  # compares with real-split features (cached on disk)
    lower_is_better: bool
    keys: tuple[str, ...]  # the numbers shown in the table; keys[0] is the headline
    summary: str
    default: bool = False  # computed by `ganforge eval` without --metrics, where it applies
    requires: tuple[Requirement, ...] = ()
    library: tuple[str, ...] | None = None  # None: its feature kind's

    @property
    def kind(self) -> FeatureKind:
        return FEATURES[self.features]

    @property
    def libraries(self) -> tuple[str, ...]:
        return self.library if self.library is not None else self.kind.library


METRICS: dict[str, Metric] = {}
FEATURES: dict[str, FeatureKind] = {}
ALIASES = {"mode-collapse": "class-kl", "isc": "is", "prc": "pr"}


def register_features(name: str, **settings: Any) -> Callable[[Callable], Callable]:
    """Register the decorated extractor builder as feature kind ``name`` (settings: ``FeatureKind``'s fields)."""

    def decorate(build: Callable[[FeatureContext], Extractor]) -> Callable[[FeatureContext], Extractor]:
        if name in FEATURES:
            raise ValueError(f"feature kind {name!r} registered twice")
        FEATURES[name] = FeatureKind(name=name, build=build, **settings)
        return build

    return decorate


def register_metric(name: str, *, features: str, **settings: Any) -> Callable[[Callable], Callable]:
    """Register the decorated function as metric ``name`` (settings: ``Metric``'s fields)."""

    def decorate(fn: Callable[[MetricInputs], dict[str, Any]]) -> Callable[[MetricInputs], dict[str, Any]]:
        if name in METRICS or name in ALIASES:
            raise ValueError(f"metric {name!r} registered twice")
        METRICS[name] = Metric(name=name, fn=fn, features=features, **settings)
        return fn

    return decorate


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


def why_not(metric: Metric, target: Target) -> str | None:
    """Why ``metric`` cannot judge ``target`` (its own requirements, then its features'), or None."""
    for requirement in (*metric.requires, metric.kind.requires):
        reason = requirement(target) if requirement is not None else None
        if reason:
            return reason
    return None


def check_applicable(metric: Metric, *, dataset: str, conditional: bool) -> None:
    reason = why_not(metric, Target(dataset, conditional))
    if reason:
        raise GanforgeError(f"metric {metric.name!r}: {reason}")


def default_metric_names(target: Target, *, inception: bool = True) -> list[str]:
    """The metrics `ganforge eval` computes without --metrics: every ``default`` entry that applies to
    ``target`` (only those without Inception weights when ``inception`` is False). Cheap features come first,
    then metrics sharing a feature kind together, each in registration order."""
    kinds = list(FEATURES)
    chosen = [m for m in METRICS.values()
              if m.default and why_not(m, target) is None and (inception or m.kind.weights is None)]
    return [m.name for m in sorted(chosen, key=lambda m: (m.kind.slow, kinds.index(m.features)))]
