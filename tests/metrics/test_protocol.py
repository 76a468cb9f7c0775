"""Every number in metrics.json states its protocol, and `ganforge eval` prints it in one line under the table."""

import json
from importlib import metadata

import pytest
import torch
from metrics_helpers import FakeInception, quiet

import ganforge
from ganforge.metrics import evaluate_run
from ganforge.metrics import inception as inc
from ganforge.metrics.evaluator import evaluator_paths
from ganforge.metrics.realdata import class_mix

FIDELITY = f"torch-fidelity {metadata.version('torch-fidelity')}"
GANFORGE = f"ganforge {ganforge.__version__}"
AS_IS = "28x28 grey as is (the classifier's own input)"


def protocol_lines(lines):
    return [line for line in lines if line.startswith("protocol: ")]


def test_domain_metrics_record_their_protocol_and_print_it(tiny_evaluator, mnist_test, fake_run):
    lines = []
    run = fake_run(lambda n, seed, labels: mnist_test.images[-n:], data_dir=mnist_test.data_dir)
    evaluate_run(run, ["domain-fid", "domain-is", "confident"], n=300, seed=3, log=lines.append, progress=False)
    saved = json.loads((run.path / "metrics.json").read_text())
    fid = saved["domain-fid"]["protocol"]
    accuracy = tiny_evaluator.info["test_accuracy"]
    assert fid == {
        "n": 300, "seed": 3, "real": "mnist", "split": "test", "n_real": 300, "features": "domain",
        "extractor": f"ganforge's cnn-16-32-fc128 classifier trained on mnist ({accuracy:.2%} test accuracy): "
                     "128-d penultimate features and class log-probabilities",
        "weights": str(evaluator_paths("mnist")[0]), "weights_sha256": tiny_evaluator.sha256,
        "resize_generated": AS_IS, "resize_real": f"28x28 grey as stored; then {AS_IS}", "library": GANFORGE,
    }
    # A metric without a real side says so; domain IS uses torch-fidelity's IS formula.
    assert saved["domain-is"]["protocol"]["library"] == f"{GANFORGE}, {FIDELITY}"
    assert saved["confident"]["protocol"]["real"] is None and saved["confident"]["protocol"]["n_real"] is None
    assert "classes" not in fid  # an unconditional run has no class mix
    # One line, after the table, naming the same facts.
    (line,) = protocol_lines(lines)
    assert lines.index(line) == len(lines) - 2  # then only "Saved to ..."
    sha = tiny_evaluator.sha256[:8]
    assert line == (f"protocol: 300 samples (seed 3) vs 300 mnist test images; mnist classifier (sha256 {sha}...) "
                    f"via {GANFORGE} + {FIDELITY}; 28x28 grey as is")


def test_a_conditional_run_records_its_class_mix(tiny_evaluator, mnist_test, fake_run):
    run = fake_run(lambda n, seed, labels: mnist_test.images[:n], data_dir=mnist_test.data_dir, num_classes=10)
    lines = []
    evaluate_run(run, ["class-accuracy", "domain-fid"], n=200, log=lines.append, progress=False)
    entry = json.loads((run.path / "metrics.json").read_text())["domain-fid"]["protocol"]
    expected = class_mix(torch.bincount(mnist_test.labels), 200).bincount(minlength=10).tolist()
    assert entry["classes"] == {"mix": "real", "counts": expected} and sum(expected) == 200
    assert protocol_lines(lines)[0].endswith("; classes in the test split's mix")

    evaluate_run(run, ["class-accuracy"], n=200, classes="uniform", log=lines.append, progress=False)
    entry = json.loads((run.path / "metrics.json").read_text())["class-accuracy"]["protocol"]
    assert entry["classes"] == {"mix": "uniform", "counts": [20] * 10}
    assert protocol_lines(lines)[-1].endswith("; classes equally often")


def test_the_resize_says_what_the_classifier_does_to_other_shapes(tiny_evaluator, mnist_test, fake_run):
    big = torch.nn.functional.interpolate(mnist_test.images[:100].float(), size=32, mode="bilinear")
    rgb = big.round().clamp(0, 255).to(torch.uint8).expand(-1, 3, -1, -1)
    run = fake_run(lambda n, seed, labels: rgb[:n], data_dir=mnist_test.data_dir, shape=(3, 32, 32))
    entry = evaluate_run(run, ["domain-fid"], n=100, log=quiet, progress=False)["domain-fid"]["protocol"]
    assert entry["resize_generated"] == ("32x32 RGB -> 28x28 grey: luminance (ITU-R 601-2), "
                                         "then resized to 28x28 (bilinear, antialiased)")
    assert entry["resize_real"] == f"28x28 grey as stored; then {AS_IS}"  # the classifier sees native data


def test_inception_metrics_record_their_protocol_with_a_stand_in_network(mnist_test, fake_run, tmp_path,
                                                                         monkeypatch):
    path = tmp_path / inc.WEIGHTS_FILENAME
    path.write_bytes(b"stand-in")
    weights = inc.InceptionWeights(path=path, sha256="ab" * 32, has_logits=False, source="test")
    monkeypatch.setattr(inc, "inspect_weights", lambda p, source="file": weights)
    monkeypatch.setattr(inc, "InceptionExtractor", FakeInception)
    lines = []
    run = fake_run(lambda n, seed, labels: mnist_test.images[:n], data_dir=mnist_test.data_dir)
    out = evaluate_run(run, ["fid", "kid"], n=60, n_inception=40, inception_weights=path, log=lines.append,
                       progress=False)
    tf_resize = "torch-fidelity's TF1-style bilinear resize (align_corners=False, no antialiasing) inside the extractor"
    generated = f"28x28 grey -> 299x299 RGB: grey copied to 3 channels, then {tf_resize}"
    assert out["fid"]["protocol"] == {
        "n": 40, "seed": 0, "real": "mnist", "split": "test", "n_real": 40, "features": "inception",
        "extractor": "Inception-v3, TF 2015-12-05 FID graph (torch-fidelity's port): 2048-d pool features",
        "weights": str(path), "weights_sha256": "ab" * 32, "resize_generated": generated,
        "resize_real": f"28x28 grey as stored; then {generated}", "library": FIDELITY,
    }
    assert out["kid"]["protocol"] == {**out["fid"]["protocol"]}
    assert protocol_lines(lines) == [f"protocol: 40 samples (seed 0) vs 40 mnist test images; Inception-v3 TF weights "
                                     f"(sha256 abababab...) via {FIDELITY}; 28x28 grey -> 299x299 RGB"]


def test_two_networks_give_one_line_with_a_part_each(tiny_evaluator, mnist_test, fake_run, tmp_path, monkeypatch):
    path = tmp_path / inc.WEIGHTS_FILENAME
    path.write_bytes(b"stand-in")
    weights = inc.InceptionWeights(path=path, sha256="cd" * 32, has_logits=False, source="test")
    monkeypatch.setattr(inc, "inspect_weights", lambda p, source="file": weights)
    monkeypatch.setattr(inc, "InceptionExtractor", FakeInception)
    lines = []
    run = fake_run(lambda n, seed, labels: mnist_test.images[:n], data_dir=mnist_test.data_dir)
    evaluate_run(run, ["fid", "domain-fid"], n=80, n_inception=40, inception_weights=path, log=lines.append,
                 progress=False)
    (line,) = protocol_lines(lines)
    inception, domain = line.removeprefix("protocol: ").split(" | ")
    assert inception.startswith("Inception metrics: 40 samples (seed 0) vs 40 mnist test images; Inception-v3")
    assert domain.startswith("domain metrics: 80 samples (seed 0) vs 80 mnist test images; mnist classifier")


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 64, 64)])
def test_the_real_side_of_a_builtin_dataset_says_how_it_was_converted(shape, mnist_test):
    from ganforge.metrics.realdata import load_real

    real = load_real("mnist", "test", 10, data_dir=mnist_test.data_dir, shape=shape, log=quiet)
    assert tuple(real.images.shape) == (10, *shape)
    if shape == (1, 28, 28):
        assert real.description == "28x28 grey as stored"
    else:
        assert real.description == ("28x28 grey -> 64x64 RGB: grey copied to 3 channels, "
                                    "shorter side resized to 64 (bilinear, antialiased), centre-cropped")
