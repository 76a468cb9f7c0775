"""Frechet distance between two feature sets, each summarised by a Gaussian (mean, covariance)."""

from __future__ import annotations

import numpy as np
import torch


def feature_stats(features: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) covariance of an N x D feature matrix, in float64."""
    x = features.detach().cpu().numpy() if isinstance(features, torch.Tensor) else np.asarray(features)
    x = x.astype(np.float64)
    return x.mean(axis=0), np.cov(x, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)).

    Tr((S1 S2)^(1/2)) = Tr((A S2 A)^(1/2)) with A = S1^(1/2), and A S2 A is symmetric: two symmetric
    eigendecompositions are faster and steadier than sqrtm or a general eig of S1 S2. Round-off negatives
    are clipped to 0.
    """
    diff = mu1 - mu2
    w, v = np.linalg.eigh(sigma1)
    root1 = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    middle = root1 @ sigma2 @ root1
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0.0, None)).sum()
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)


def frechet_distance_features(a: torch.Tensor, b: torch.Tensor) -> float:
    """Frechet distance between the Gaussians fitted to two N x D feature sets."""
    return frechet_distance(*feature_stats(a), *feature_stats(b))
