"""evaluate_run end to end: metric choice, the real-features cache, metrics.json, with a fake Inception."""

import json

import pytest
import torch
from metrics_helpers import FakeInception, quiet
from safetensors.torch import load_file

from ganforge.data import user_cache_dir
from ganforge.errors import GanforgeError
from ganforge.metrics import evaluate as ev
from ganforge.metrics import evaluate_run
from ganforge.metrics import inception as inc


@pytest.fixture
def fake_inception(tmp_path, monkeypatch):
    """Weights 'found' through GANFORGE_INCEPTION_WEIGHTS (FID-only), and a cheap stand-in network."""
    path = tmp_path / inc.WEIGHTS_FILENAME
    path.write_bytes(b"stand-in")
    monkeypatch.setenv(inc.WEIGHTS_ENV, str(path))
    weights = inc.InceptionWeights(path=path, sha256="ab" * 32, has_logits=False, source="test")
    monkeypatch.setattr(inc, "inspect_weights", lambda p, source="file": weights)
    monkeypatch.setattr(inc, "InceptionExtractor", FakeInception)
    FakeInception.calls = 0
    return weights


def logger(lines):
    return lines.append


def test_default_metrics_are_domain_plus_fid_kid_pr_without_is_for_the_fid_only_file(
        tiny_evaluator, fake_inception, mnist_test, fake_run):
    lines = []
    run = fake_run(lambda n, seed, labels: mnist_test.images[-n:], data_dir=mnist_test.data_dir)
    out = evaluate_run(run, n=200, log=logger(lines), progress=False)
    assert list(out) == ["domain-fid", "domain-is", "class-kl", "confident", "fid", "kid", "pr"]
    text = "\n".join(lines)
    assert "Inception Score skipped" in text
    assert out["fid"]["inception_weights"]["sha256"] == "ab" * 32
    assert out["domain-fid"]["evaluator"]["sha256"] == tiny_evaluator.sha256
    assert out["kid"]["kid_subset_size"] == 100 and out["pr"]["n"] == 200
    saved = json.loads((run.path / "metrics.json").read_text())
    assert set(saved) == set(out) and saved["fid"]["fid"] == pytest.approx(out["fid"]["fid"])
    # The table: one line per metric, direction shown.
    assert any(line.startswith("domain-fid") and "lower" in line for line in text.splitlines())


def test_without_weights_the_default_is_domain_metrics_only(tiny_evaluator, mnist_test, fake_run, tmp_path,
                                                            monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(inc.WEIGHTS_ENV, raising=False)
    lines = []
    run = fake_run(lambda n, seed, labels: mnist_test.images[:n], data_dir=mnist_test.data_dir)
    out = evaluate_run(run, n=100, log=logger(lines), progress=False)
    assert list(out) == ["domain-fid", "domain-is", "class-kl", "confident"]
    assert any(line.startswith("Inception metrics skipped") and "--inception-weights" in line for line in lines)


def test_real_features_are_cached_and_the_extractors_not_run_again(tiny_evaluator, fake_inception, mnist_test,
                                                                    fake_run, monkeypatch):
    from ganforge.metrics import evaluator as evaluator_module

    seen = []

    class Spy:
        def __init__(self, inner):
            self.inner, self.name, self.sha256, self.info = inner, inner.name, inner.sha256, inner.info

        def __call__(self, images):
            seen.append(len(images))
            return self.inner(images)

    real_get = evaluator_module.get_evaluator
    monkeypatch.setattr(evaluator_module, "get_evaluator", lambda *a, **k: Spy(real_get(*a, **k)))
    run = fake_run(lambda n, seed, labels: mnist_test.images[:n], data_dir=mnist_test.data_dir)

    first = evaluate_run(run, ["fid", "domain-fid"], n=120, n_inception=40, log=quiet, progress=False)
    assert FakeInception.calls == 80 and sum(seen) == 240  # generated + real, for each extractor
    stats = sorted(p.name for p in (user_cache_dir() / "stats").iterdir())
    assert len(stats) == 2 and any("-1x28x28-n40-fake-inception-2048-abab" in s for s in stats)
    assert any("-native-n120-domain-mnist-" in s for s in stats)

    FakeInception.calls, seen[:] = 0, []
    second = evaluate_run(run, ["fid", "domain-fid"], n=120, n_inception=40, log=quiet, progress=False)
    assert FakeInception.calls == 40 and sum(seen) == 120  # generated images only: real ones came from disk
    assert second["fid"]["fid"] == pytest.approx(first["fid"]["fid"])
    assert second["domain-fid"]["domain_fid"] == pytest.approx(first["domain-fid"]["domain_fid"])
    # How the real images were converted is kept with their features, for the protocol of later evaluations.
    assert second["fid"]["protocol"]["resize_real"] == first["fid"]["protocol"]["resize_real"]
    assert first["fid"]["protocol"]["resize_real"].startswith("28x28 grey as stored; then 28x28 grey -> 299x299")
    assert second["domain-fid"]["protocol"] == first["domain-fid"]["protocol"]
    cached = load_file(user_cache_dir() / "stats" / [s for s in stats if "domain" in s][0])
    assert cached["features"].shape == (120, 128) and cached["logprobs"].shape == (120, 10)


def test_cpu_uses_a_smaller_inception_sample_and_says_so(fake_inception, mnist_test, fake_run, monkeypatch):
    monkeypatch.setattr(ev, "CPU_INCEPTION_CAP", 30)
    lines = []
    run = fake_run(lambda n, seed, labels: mnist_test.images[:n], data_dir=mnist_test.data_dir)
    out = evaluate_run(run, ["fid", "kid"], n=100, log=logger(lines), progress=False)
    assert run.calls == [30]  # only Inception metrics asked for: only 30 samples generated
    assert out["fid"]["n"] == 30 and out["fid"]["n_real"] == 30
    assert any("Inception metrics use n=30 of the 100 samples on CPU" in line for line in lines)


def test_fid_orders_real_digits_before_noise(fake_inception, mnist_test, fake_run):
    noise = torch.randint(0, 256, (200, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    real = fake_run(lambda n, seed, labels: mnist_test.images[-n:], data_dir=mnist_test.data_dir)
    fid_real = evaluate_run(real, ["fid", "pr"], n=200, log=quiet, progress=False)
    noisy = fake_run(lambda n, seed, labels: noise[:n], data_dir=mnist_test.data_dir)
    fid_noise = evaluate_run(noisy, ["fid", "pr"], n=200, log=quiet, progress=False)
    assert fid_real["fid"]["fid"] < fid_noise["fid"]["fid"] / 5
    assert fid_real["pr"]["precision"] > 0.5 and fid_noise["pr"]["precision"] < 0.1


def test_metrics_json_is_merged_not_replaced(tiny_evaluator, mnist_test, fake_run):
    run = fake_run(lambda n, seed, labels: mnist_test.images[:n], data_dir=mnist_test.data_dir)
    (run.path / "metrics.json").write_text(json.dumps({"my-note": {"x": 1}}))
    evaluate_run(run, ["domain-fid"], n=100, log=quiet, progress=False)
    evaluate_run(run, ["confident"], n=100, log=quiet, progress=False)
    saved = json.loads((run.path / "metrics.json").read_text())
    assert set(saved) == {"my-note", "domain-fid", "confident"}
    entry = saved["domain-fid"]
    assert entry["n"] == 100 and entry["real"] == "mnist/test" and entry["lower_is_better"] is True
    assert "time" in entry and entry["seed"] == 0


def test_unknown_metric_names_list_the_valid_ones(fake_run):
    run = fake_run(lambda n, seed, labels: None)
    with pytest.raises(GanforgeError) as e:
        evaluate_run(run, ["fid", "sharpness"], log=quiet)
    assert "'sharpness'" in str(e.value) and "domain-fid" in str(e.value) and "class-accuracy" in str(e.value)
    assert run.calls == []


def test_domain_metrics_need_an_mnist_family_dataset(fake_run):
    run = fake_run(lambda n, seed, labels: None, dataset="folder:/pictures")
    with pytest.raises(GanforgeError, match="MNIST-family"):
        evaluate_run(run, ["domain-fid"], log=quiet)


def test_stacked_mnist_modes_and_domain_fid(tiny_evaluator, mnist_test, fake_run):
    from ganforge.data import load_dataset

    stacked = load_dataset("stacked-mnist", split="test", data_dir=mnist_test.data_dir, log=quiet)
    real = fake_run(lambda n, seed, labels: stacked.images[-n:], dataset="stacked-mnist",
                    data_dir=mnist_test.data_dir, shape=(3, 28, 28))
    good = evaluate_run(real, ["modes", "domain-fid", "class-kl"], n=1000, log=quiet, progress=False)
    # 1000 draws over 1000 near-uniform modes cover about 1000 * (1 - 1/e) = 632 of them.
    assert 560 < good["modes"]["modes"] < 700 and good["modes"]["modes_kl"] < 0.8
    assert good["class-kl"]["class_kl"] == pytest.approx(good["modes"]["modes_kl"])
    assert "class_histogram" not in good["class-kl"]  # 1000 bins stay out of metrics.json

    one = fake_run(lambda n, seed, labels: stacked.images[:1].expand(n, -1, -1, -1), dataset="stacked-mnist",
                   data_dir=mnist_test.data_dir, shape=(3, 28, 28))
    bad = evaluate_run(one, ["modes", "domain-fid", "class-kl"], n=1000, log=quiet, progress=False)
    assert bad["modes"]["modes"] == 1 and bad["class-kl"]["mode_collapse"] is True
    assert good["class-kl"]["mode_collapse"] is False
    assert bad["domain-fid"]["domain_fid"] > 5 * good["domain-fid"]["domain_fid"]
