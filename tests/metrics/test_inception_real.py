"""The real Inception network (torch-fidelity) on a handful of images; skipped without the weights file.

Inception runs ~9 images/s on 2 CPU cores, so these use 20 images a side. The cross-check against
``torch_fidelity.calculate_metrics`` is slower still and runs only with GANFORGE_SLOW_TESTS=1.
"""

import hashlib
import json
import math
import os
from pathlib import Path

import pytest
import torch_fidelity
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
    lines = []
    first = evaluate_run(run, ["fid", "kid", "pr"], n=N, inception_weights=weights, log=lines.append,
                         progress=False)
    assert math.isfinite(first["fid"]["fid"]) and first["fid"]["fid"] > 0
    assert first["kid"]["kid_subset_size"] == N // 2 and 0 <= first["pr"]["precision"] <= 1
    assert first["fid"]["inception_weights"]["path"] == str(weights)
    cached = list((user_cache_dir() / "stats").glob("mnist-test-1x28x28-n20-inception-v3-tf-2048-*.safetensors"))
    assert len(cached) == 1  # (that a cached file is reused is tested with a stand-in network)

    # The protocol in metrics.json names the real weights file by its content, and the printed line agrees.
    sha = hashlib.sha256(Path(weights).read_bytes()).hexdigest()
    saved = json.loads((run.path / "metrics.json").read_text())
    for name in ("fid", "kid", "pr"):
        protocol = saved[name]["protocol"]
        assert (protocol["n"], protocol["n_real"], protocol["real"], protocol["split"]) == (N, N, "mnist", "test")
        assert protocol["weights"] == str(weights) and protocol["weights_sha256"] == sha
        assert protocol["extractor"].startswith("Inception-v3, TF 2015-12-05 FID graph")
        assert protocol["resize_generated"].startswith("28x28 grey -> 299x299 RGB: grey copied to 3 channels, then "
                                                       "torch-fidelity's TF1-style bilinear resize")
        assert protocol["resize_real"] == f"28x28 grey as stored; then {protocol['resize_generated']}"
        assert protocol["library"] == f"torch-fidelity {torch_fidelity.__version__}" and protocol["seed"] == 0
    assert f"protocol: {N} samples (seed 0) vs {N} mnist test images; Inception-v3 TF weights (sha256 {sha[:8]}...) " \
           f"via torch-fidelity {torch_fidelity.__version__}; 28x28 grey -> 299x299 RGB" in lines


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
