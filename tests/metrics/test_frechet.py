"""Known answers for the Frechet distance."""

import numpy as np
import pytest
import torch

from ganforge.metrics.frechet import feature_stats, frechet_distance, frechet_distance_features


def test_identical_feature_sets_give_zero():
    x = torch.randn(500, 16, generator=torch.Generator().manual_seed(0))
    assert frechet_distance_features(x, x) == pytest.approx(0.0, abs=1e-6)


def test_shifted_copy_is_further_away_the_more_it_is_shifted():
    x = torch.randn(500, 16, generator=torch.Generator().manual_seed(0))
    near, far = frechet_distance_features(x, x + 0.5), frechet_distance_features(x, x + 2.0)
    # A pure shift moves only the mean: FID = ||shift||^2 exactly.
    assert near == pytest.approx(16 * 0.25, rel=1e-6)
    assert far == pytest.approx(16 * 4.0, rel=1e-6)


def test_closed_form_for_gaussians_sharing_eigenvectors():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))  # a random rotation
    a, b = rng.uniform(0.5, 3.0, 6), rng.uniform(0.5, 3.0, 6)
    s1, s2 = q @ np.diag(a) @ q.T, q @ np.diag(b) @ q.T
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    # Commuting covariances: Tr(S1 + S2 - 2 sqrt(S1 S2)) = sum (sqrt(a) - sqrt(b))^2.
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)


def test_matches_scipy_sqrtm_and_torch_fidelity_for_general_covariances():
    from scipy.linalg import sqrtm
    from torch_fidelity.metric_fid import fid_statistics_to_metric

    rng = np.random.default_rng(1)
    m1, m2 = rng.normal(size=(8, 8)), rng.normal(size=(8, 8))
    s1, s2 = m1 @ m1.T + np.eye(8), m2 @ m2.T + np.eye(8)
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * sqrtm(s1 @ s2).real)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)
    tf = fid_statistics_to_metric({"mu": mu1, "sigma": s1}, {"mu": mu2, "sigma": s2}, verbose=False)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(tf["frechet_inception_distance"], rel=1e-8)


def test_feature_stats_are_float64_mean_and_unbiased_covariance():
    x = torch.tensor([[0.0, 1.0], [2.0, 3.0], [4.0, 8.0]])
    mu, sigma = feature_stats(x)
    assert mu.dtype == np.float64
    np.testing.assert_allclose(mu, [2.0, 4.0])
    np.testing.assert_allclose(sigma, np.cov(x.numpy().astype(np.float64), rowvar=False))
