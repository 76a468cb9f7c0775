"""Inception metrics (FID, KID, Inception Score, precision/recall), computed by torch-fidelity from features.

Features come from ``inception.InceptionExtractor``; the real side is cached (see ``stats_cache``).
Conventions follow torch-fidelity's defaults: KID 100 subsets of 1000 (n/2 when n < 2000), cubic
polynomial kernel; IS 10 splits; precision/recall with k = 3 neighbours (Kynkaanniemi et al. 2019).
"""

from __future__ import annotations

from ganforge.errors import GanforgeError
from ganforge.metrics.registry import MetricInputs, register_metric

SEED = 2020  # torch-fidelity's default rng_seed, so numbers match its CLI


@register_metric("fid", features="inception", needs_real=True, lower_is_better=True, keys=("fid",),
                 summary="Frechet Inception Distance", default=True)
def fid(x: MetricInputs) -> dict[str, float]:
    from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_features_to_statistics, fid_statistics_to_metric

    fake, real = fid_features_to_statistics(x.fake["2048"]), fid_features_to_statistics(x.real["2048"])
    return {"fid": fid_statistics_to_metric(fake, real, verbose=False)[KEY_METRIC_FID]}


@register_metric("kid", features="inception", needs_real=True, lower_is_better=True, keys=("kid_mean", "kid_std"),
                 summary="Kernel Inception Distance", default=True)
def kid(x: MetricInputs) -> dict[str, float]:
    from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric

    fake, real = x.fake["2048"], x.real["2048"]
    smaller = min(len(fake), len(real))
    # The standard subsets of 1000; below 2000 samples half of them, else every subset would be the whole
    # set and the std 0 (the mean is unbiased for any subset size).
    subset = 1000 if smaller >= 2000 else max(2, smaller // 2)
    out = kid_features_to_metric(fake, real, kid_subsets=100, kid_subset_size=subset, rng_seed=SEED,
                                 verbose=False)
    return {"kid_mean": out[KEY_METRIC_KID_MEAN], "kid_std": out[KEY_METRIC_KID_STD],
            "kid_subset_size": subset}


@register_metric("is", features="inception-logits", needs_real=False, lower_is_better=False,
                 keys=("is_mean", "is_std"), summary="Inception Score", default=True)
def inception_score(x: MetricInputs) -> dict[str, float]:
    from torch_fidelity.metric_isc import KEY_METRIC_ISC_MEAN, KEY_METRIC_ISC_STD, isc_features_to_metric

    logits = x.fake["logits_unbiased"]
    if not logits.isfinite().all():  # never report NaN as a score
        raise GanforgeError("Inception Score: the logits are not finite (no logits layer in the weights)")
    out = isc_features_to_metric(logits, splits=min(10, len(logits)), shuffle=True, rng_seed=SEED)
    return {"is_mean": out[KEY_METRIC_ISC_MEAN], "is_std": out[KEY_METRIC_ISC_STD]}


@register_metric("pr", features="inception", needs_real=True, lower_is_better=False, keys=("precision", "recall"),
                 summary="precision/recall, k=3 (Kynkaanniemi et al.)", default=True)
def precision_recall(x: MetricInputs) -> dict[str, float]:
    from torch_fidelity.metric_prc import (
        KEY_METRIC_F_SCORE,
        KEY_METRIC_PRECISION,
        KEY_METRIC_RECALL,
        prc_features_to_metric,
    )

    # torch-fidelity's convention: features_1 generated, features_2 real.
    out = prc_features_to_metric(x.fake["2048"], x.real["2048"], prc_neighborhood=3, save_cpu_ram=True,
                                 verbose=False)
    return {"precision": out[KEY_METRIC_PRECISION], "recall": out[KEY_METRIC_RECALL],
            "f_score": out[KEY_METRIC_F_SCORE]}
