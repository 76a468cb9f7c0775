"""The real Inception network (torch-fidelity) on a handful of images; skipped without the weights file.

Inception runs ~9 images/s on 2 CPU cores, so these use 20 images a side. The cross-check against
``torch_fidelity.calculate_metrics`` is slower still and runs only with GANFORGE_SLOW_TESTS=1.
"""

import math
import os

import pytest
from metrics_helpers import quiet, shared_inception_weights

from ganforge.data import user_cache_dir
from ganforge.errors import GanforgeError
from ganforge.metrics import evaluate_run

N = 20


@pytest.fixture
def weights():
    path = shared_inception_weights()
    if path is None:
        pytest.skip("no Inception weights file (GANFORGE_INCEPTION_WEIGHTS or shared/data/weights)")
    return path


def test_fid_kid_pr_on_twenty_digits_caches_the_real_features(weights, mnist_test, fake_run):
    run = fake_run(lambda n, seed, labels: mnist_test.images[-n:], data_dir=mnist_test.data_dir)
    first = evaluate_run(run, ["fid", "kid", "pr"], n=N, inception_weights=weights, log=quiet, progress=False)
    assert math.isfinite(first["fid"]["fid"]) and first["fid"]["fid"] > 0
    assert first["kid"]["kid_subset_size"] == N // 2 and 0 <= first["pr"]["precision"] <= 1
    assert first["fid"]["inception_weights"]["path"] == str(weights)
    cached = list((user_cache_dir() / "stats").glob("mnist-test-1x28x28-n20-inception-v3-tf-2048-*.safetensors"))
    assert len(cached) == 1  # (that a cached file is reused is tested with a stand-in network)


def test_inception_score_with_the_fid_only_file_says_so_plainly(weights, mnist_test, fake_run):
    from ganforge.metrics.inception import inspect_weights

    if inspect_weights(weights).has_logits:
        pytest.skip(f"{weights} has the logits layer")
    run = fake_run(lambda n, seed, labels: mnist_test.images[:n], data_dir=mnist_test.data_dir)
    with pytest.raises(GanforgeError) as e:
        evaluate_run(run, ["is"], n=N, inception_weights=weights, log=quiet, progress=False)
    assert str(e.value).startswith("Inception Score needs the full Inception weights")
    assert run.calls == []  # refused before sampling anything


@pytest.mark.skipif(not os.environ.get("GANFORGE_SLOW_TESTS"), reason="slow: set GANFORGE_SLOW_TESTS=1")
def test_same_fid_and_kid_as_torch_fidelity_calculate_metrics(weights, mnist_test, fake_run):
    import torch
    import torch_fidelity

    fake, real = mnist_test.images[-40:], None

    class Images(torch.utils.data.Dataset):
        def __init__(self, images):
            self.images = images.expand(-1, 3, -1, -1)

        def __len__(self):
            return len(self.images)

        def __getitem__(self, i):
            return self.images[i]

    run = fake_run(lambda n, seed, labels: fake[:n], data_dir=mnist_test.data_dir)
    ours = evaluate_run(run, ["fid", "kid"], n=40, inception_weights=weights, log=quiet, progress=False)
    from ganforge.metrics.realdata import load_real_images

    real = load_real_images("mnist", "test", 40, data_dir=mnist_test.data_dir, shape=(1, 28, 28), log=quiet)
    theirs = torch_fidelity.calculate_metrics(input1=Images(fake), input2=Images(real), fid=True, kid=True,
                                              kid_subset_size=20, cuda=False, verbose=False,
                                              feature_extractor_weights_path=str(weights))
    assert ours["fid"]["fid"] == pytest.approx(theirs["frechet_inception_distance"], rel=1e-4)
    assert ours["kid"]["kid_mean"] == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-3, abs=1e-6)
