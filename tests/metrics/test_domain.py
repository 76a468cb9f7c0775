"""Domain metrics: planted modes, the mode-collapse alarm, class accuracy."""

import math

import pytest
import torch
from metrics_helpers import quiet

from ganforge.errors import GanforgeError
from ganforge.metrics import domain, evaluate_run
from ganforge.metrics.registry import MetricInputs


def one_hot_logprobs(classes: torch.Tensor, k: int) -> torch.Tensor:
    """Log-probabilities that put 0.99 on each sample's class."""
    probs = torch.full((len(classes), k), 0.01 / (k - 1))
    probs[torch.arange(len(classes)), classes] = 0.99
    return probs.log()


def inputs(fake_classes, k=10, real_classes=None, dataset="mnist", labels=None) -> MetricInputs:
    real = None if real_classes is None else {"logprobs": one_hot_logprobs(real_classes, k)}
    return MetricInputs(fake={"logprobs": one_hot_logprobs(fake_classes, k)}, real=real, labels=labels,
                        dataset=dataset)


def test_mode_counter_counts_planted_modes_exactly():
    planted = torch.tensor([0, 7, 123, 500, 999, 321, 42])
    classes = planted.repeat_interleave(torch.tensor([5, 1, 300, 2, 9, 40, 1]))
    out = domain.modes(inputs(classes, k=1000, dataset="stacked-mnist"))
    assert out["modes"] == 7 and out["modes_total"] == 1000


def test_all_modes_evenly_covered_has_zero_kl_to_uniform():
    out = domain.modes(inputs(torch.arange(1000).repeat(3), k=1000, dataset="stacked-mnist"))
    assert out["modes"] == 1000
    assert out["modes_kl"] == pytest.approx(0.0, abs=1e-12)


def test_single_mode_kl_is_log_of_mode_count():
    out = domain.modes(inputs(torch.full((50,), 3), k=1000, dataset="stacked-mnist"))
    assert out["modes"] == 1 and out["modes_kl"] == pytest.approx(math.log(1000))


def test_modes_kl_splits_into_channel_imbalance_and_dependence():
    # Channel R never shows digit 9 (R uniform over 0-8), G and B independent and uniform: all of the KL
    # is R's imbalance, log(10/9), and nothing is dependence.
    r, g, b = torch.meshgrid(torch.arange(9), torch.arange(10), torch.arange(10), indexing="ij")
    out = domain.modes(inputs((100 * r + 10 * g + b).flatten(), k=1000, dataset="stacked-mnist"))
    assert out["modes"] == 900
    assert out["modes_kl"] == pytest.approx(math.log(10 / 9))
    assert out["modes_kl_channels"] == pytest.approx([math.log(10 / 9), 0.0, 0.0], abs=1e-5)
    assert out["modes_kl_dependence"] == pytest.approx(0.0, abs=1e-12)
    # B always equals R: every channel is uniform, so all of the KL (log 10) is dependence.
    d = torch.arange(10).repeat_interleave(10)
    out = domain.modes(inputs(100 * d + 10 * torch.arange(10).repeat(10) + d, k=1000, dataset="stacked-mnist"))
    assert out["modes_kl_channels"] == pytest.approx([0.0, 0.0, 0.0], abs=1e-12)
    assert out["modes_kl_dependence"] == pytest.approx(math.log(10))


def test_class_kl_alarm_on_collapse_and_quiet_on_matching_histograms():
    real = torch.arange(10).repeat(100)
    collapsed = domain.class_kl(inputs(torch.full((1000,), 4), real_classes=real))
    matching = domain.class_kl(inputs(torch.arange(10).repeat(100).roll(3), real_classes=real))
    assert collapsed["mode_collapse"] is True
    assert collapsed["class_kl"] == pytest.approx(math.log(10), rel=1e-2)
    assert matching["mode_collapse"] is False and matching["class_kl"] < 1e-6
    assert len(matching["class_histogram"]) == 10


def test_losing_one_class_of_ten_is_at_the_alarm_threshold():
    real = torch.arange(10).repeat(1000)
    nine = domain.class_kl(inputs(torch.arange(9).repeat(1000), real_classes=real))
    assert nine["class_kl"] == pytest.approx(math.log(10 / 9), rel=1e-3)
    assert nine["mode_collapse"] is True  # ln(10/9) = 0.105 > 0.1 + a sampling floor of ~0.0005


def test_confident_share_and_class_accuracy():
    fake = inputs(torch.tensor([1, 2, 3, 4]), labels=torch.tensor([1, 2, 0, 0]))
    fake.fake["logprobs"][3] = torch.full((10,), 0.1).log()  # one unsure sample (argmax: class 0)
    assert domain.confident(fake)["confident"] == pytest.approx(0.75)
    assert domain.class_accuracy(fake)["class_accuracy"] == pytest.approx(0.75)


def test_domain_is_of_confident_uniform_classes_is_near_class_count():
    out = domain.domain_is(inputs(torch.arange(10).repeat(100)))
    assert 8.0 < out["domain_is_mean"] <= 10.0


# --- with a (tiny, quickly trained) classifier ---


def test_tiny_training_run_learns_digits(tiny_model):
    _, acc = tiny_model
    assert acc > 0.85


def test_single_digit_generator_triggers_the_kl_alarm_and_real_digits_do_not(tiny_evaluator, mnist_test, fake_run):
    sevens = mnist_test.images[mnist_test.labels == 7]
    collapsed = fake_run(lambda n, seed, labels: sevens[:n], data_dir=mnist_test.data_dir)
    real = fake_run(lambda n, seed, labels: mnist_test.images[-n:], data_dir=mnist_test.data_dir)
    bad = evaluate_run(collapsed, ["class-kl", "confident"], n=1000, log=quiet, progress=False)
    good = evaluate_run(real, ["class-kl", "confident"], n=1000, log=quiet, progress=False)
    assert bad["class-kl"]["mode_collapse"] is True and bad["class-kl"]["class_kl"] > 1.5
    assert good["class-kl"]["mode_collapse"] is False and good["class-kl"]["class_kl"] < 0.05
    assert good["confident"]["confident"] > 0.7


def test_class_accuracy_on_fake_conditional_generators(tiny_evaluator, mnist_test, fake_run):
    by_class = [mnist_test.images[mnist_test.labels == c] for c in range(10)]

    def faithful(n, seed, labels):
        counts = [0] * 10
        out = []
        for label in labels.tolist():
            out.append(by_class[label][counts[label]])
            counts[label] += 1
        return torch.stack(out)

    def shuffled(n, seed, labels):
        return faithful(n, seed, labels[torch.randperm(n, generator=torch.Generator().manual_seed(1))])

    runs = {name: fake_run(make, data_dir=mnist_test.data_dir, num_classes=10)
            for name, make in [("faithful", faithful), ("shuffled", shuffled)]}
    acc = {name: evaluate_run(run, ["class-accuracy"], n=1000, log=quiet, progress=False)["class-accuracy"]
           for name, run in runs.items()}
    assert acc["faithful"]["class_accuracy"] > 0.85
    assert abs(acc["shuffled"]["class_accuracy"] - 0.1) < 0.05


def test_class_accuracy_needs_a_conditional_run(tiny_evaluator, mnist_test, fake_run):
    run = fake_run(lambda n, seed, labels: mnist_test.images[:n], data_dir=mnist_test.data_dir)
    with pytest.raises(GanforgeError, match="class-conditional"):
        evaluate_run(run, ["class-accuracy"], n=100, log=quiet, progress=False)


def test_modes_metric_is_only_for_stacked_mnist(fake_run):
    run = fake_run(lambda n, seed, labels: torch.zeros(n, 1, 28, 28, dtype=torch.uint8))
    with pytest.raises(GanforgeError, match="only for stacked-mnist"):
        evaluate_run(run, ["modes"], n=100, log=quiet, progress=False)
