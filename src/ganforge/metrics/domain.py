"""Domain metrics from a dataset-specific classifier (see ``evaluator``): cheap, no download, easy to read.

- domain FID: Frechet distance on the classifier's penultimate (128-d) features.
- domain IS: Inception Score with the classifier's class probabilities.
- class-kl: KL(predicted-class histogram of generated images || reference histogram), a mode-collapse alarm.
  The reference is the predicted histogram of the real split (uniform over the 1000 modes for stacked-mnist,
  as in PacGAN). The alarm fires when KL exceeds the floor by 0.1 nats. 0.1 nats is what dropping one of ten
  equally likely classes costs (ln 10/9 = 0.105); the floor is the KL a perfect generator shows anyway from
  drawing only n samples (about (K - 1) / (2 n); 0.57 for n = K = 1000), found by simulation.
- confident: share of generated images whose top class probability exceeds 0.9.
- modes (stacked-mnist): modes covered out of 1000 (a mode counts once any sample is classified into it)
  and KL(predicted-mode histogram || uniform), PacGAN's protocol with 26,000 samples; the KL split into
  each channel's digit imbalance and the dependence between channels.
- class-accuracy (class-conditional runs): share of images classified as the class they were generated for.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ganforge.errors import GanforgeError
from ganforge.metrics.frechet import frechet_distance_features
from ganforge.metrics.registry import MetricInputs, conditional_runs, dataset_only, register_metric

CONFIDENT = 0.9
KL_ALARM_NATS = 0.1
MAX_HISTOGRAM = 100  # histograms longer than this (stacked-mnist's 1000 modes) stay out of metrics.json


@register_metric("domain-fid", features="domain", needs_real=True, lower_is_better=True, keys=("domain_fid",),
                 summary="Frechet distance on the domain classifier's features", default=True)
def domain_fid(x: MetricInputs) -> dict[str, float]:
    return {"domain_fid": frechet_distance_features(x.fake["features"], x.real["features"])}


# The Inception Score formula is torch-fidelity's, applied to the classifier's probabilities.
@register_metric("domain-is", features="domain", needs_real=False, lower_is_better=False,
                 keys=("domain_is_mean", "domain_is_std"), summary="Inception Score with the domain classifier",
                 default=True, library=("ganforge", "torch-fidelity"))
def domain_is(x: MetricInputs) -> dict[str, float]:
    from torch_fidelity.metric_isc import KEY_METRIC_ISC_MEAN, KEY_METRIC_ISC_STD, isc_features_to_metric

    # Log-probabilities are valid logits: softmax gives the probabilities back.
    logprobs = x.fake["logprobs"]
    out = isc_features_to_metric(logprobs, splits=min(10, len(logprobs)), shuffle=True, rng_seed=2020)
    return {"domain_is_mean": out[KEY_METRIC_ISC_MEAN], "domain_is_std": out[KEY_METRIC_ISC_STD]}


def class_histogram(logprobs: torch.Tensor) -> torch.Tensor:
    """Share of samples predicted as each class."""
    counts = torch.bincount(logprobs.argmax(1), minlength=logprobs.shape[1]).double()
    return counts / counts.sum()


def kl_divergence(p: torch.Tensor, q: torch.Tensor) -> float:
    """KL(p || q) in nats; terms with p = 0 contribute nothing."""
    p, q = p.double(), q.double()
    mask = p > 0
    return float((p[mask] * (p[mask] / q[mask]).log()).sum())


def sampling_floor(reference: torch.Tensor, n: int, draws: int = 200) -> float:
    """Mean KL(histogram of n draws from ``reference`` || reference): what a perfect generator scores."""
    q = reference.double().numpy()
    shares = np.random.default_rng(0).multinomial(n, q / q.sum(), size=draws) / n
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(shares > 0, shares * np.log(shares / q), 0.0)
    return float(terms.sum(axis=1).mean())


@register_metric("class-kl", features="domain", needs_real=True, lower_is_better=True,
                 keys=("class_kl", "mode_collapse"), default=True,
                 summary="KL(generated class histogram || real); flags mode collapse")
def class_kl(x: MetricInputs) -> dict[str, object]:
    fake = class_histogram(x.fake["logprobs"])
    k, n = len(fake), len(x.fake["logprobs"])
    if x.dataset == "stacked-mnist":
        reference = torch.full((k,), 1.0 / k, dtype=torch.float64)
    else:
        # Half-count smoothing so a class absent from a small real sample cannot make KL infinite.
        counts = torch.bincount(x.real["logprobs"].argmax(1), minlength=k).double()
        reference = (counts + 0.5) / (counts.sum() + 0.5 * k)
    kl = kl_divergence(fake, reference)
    threshold = KL_ALARM_NATS + sampling_floor(reference, n)
    out: dict[str, object] = {"class_kl": kl, "class_kl_threshold": threshold,
                              "mode_collapse": kl > threshold}
    if k <= MAX_HISTOGRAM:
        out["class_histogram"] = [round(float(v), 5) for v in fake]
        out["real_histogram"] = [round(float(v), 5) for v in reference]
    return out


@register_metric("confident", features="domain", needs_real=False, lower_is_better=False, keys=("confident",),
                 summary="share of samples classified with probability > 0.9", default=True)
def confident(x: MetricInputs) -> dict[str, float]:
    top = x.fake["logprobs"].max(dim=1).values
    return {"confident": float((top > math.log(CONFIDENT)).double().mean())}


@register_metric("modes", features="domain", needs_real=False, lower_is_better=False,
                 keys=("modes", "modes_kl", "modes_kl_channels", "modes_kl_dependence"), default=True,
                 requires=(dataset_only("stacked-mnist"),),
                 summary="stacked-mnist modes covered of 1000, KL to uniform (per channel + dependence)")
def modes(x: MetricInputs) -> dict[str, object]:
    hist = class_histogram(x.fake["logprobs"])
    k = len(hist)
    kl = kl_divergence(hist, torch.full((k,), 1.0 / k, dtype=torch.float64))
    out: dict[str, object] = {"modes": int((hist > 0).sum()), "modes_total": k, "modes_kl": kl}
    digits = round(k ** (1 / 3))
    if digits**3 == k:
        # The uniform reference is a product over the channels, so the KL splits exactly into each
        # channel's digit imbalance plus KL(joint || product of the channel histograms), the dependence
        # between channels (where the sampling floor lives): it says which one to work on.
        cube = hist.reshape(digits, digits, digits)
        uniform = torch.full((digits,), 1.0 / digits, dtype=torch.float64)
        channels = [cube.sum(dims) for dims in ((1, 2), (0, 2), (0, 1))]
        per_channel = [kl_divergence(c, uniform) for c in channels]
        out["modes_kl_channels"] = [round(v, 5) for v in per_channel]
        out["modes_kl_dependence"] = kl - sum(per_channel)
    return out


@register_metric("class-accuracy", features="domain", needs_real=False, lower_is_better=False,
                 keys=("class_accuracy",), summary="share classified as the requested class", default=True,
                 requires=(conditional_runs,))
def class_accuracy(x: MetricInputs) -> dict[str, float]:
    if x.labels is None:
        raise GanforgeError("class-accuracy: needs a class-conditional run (run.num_classes is None)")
    predicted = x.fake["logprobs"].argmax(1)
    return {"class_accuracy": float((predicted == x.labels[: len(predicted)]).double().mean())}
