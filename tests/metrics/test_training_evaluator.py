"""make_training_evaluator: real features once at construction, cheap calls during training."""

import pytest
import torch
from metrics_helpers import quiet

from ganforge.errors import GanforgeError
from ganforge.metrics.training import make_training_evaluator


def test_domain_fid_during_training_separates_digits_from_noise(tiny_evaluator, mnist_test):
    evaluator = make_training_evaluator("domain-fid", dataset="mnist", data_dir=mnist_test.data_dir, device="cpu",
                                        n=500, log=quiet)
    assert evaluator.name == "domain-fid" and evaluator.lower_is_better is True and evaluator.key == "domain_fid"
    asked = []

    def digits(n, seed, labels):
        asked.append((n, seed, labels))
        return mnist_test.images[-n:]

    def noise(n, seed, labels):
        return torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))

    good, bad = evaluator(digits), evaluator(noise)
    assert asked == [(500, 0, None)]  # an unconditional run asks for no classes
    assert set(good) == {"domain_fid"} and isinstance(good["domain_fid"], float)
    assert good["domain_fid"] * 20 < bad["domain_fid"]


def test_class_kl_during_training_reports_only_numbers(tiny_evaluator, mnist_test):
    evaluator = make_training_evaluator("mode-collapse", dataset="mnist", data_dir=mnist_test.data_dir,
                                        device="cpu", n=300, log=quiet)
    out = evaluator(lambda n, seed, labels: mnist_test.images[:n])
    assert evaluator.name == "class-kl"
    assert set(out) == {"class_kl", "class_kl_threshold", "mode_collapse"} and out["mode_collapse"] == 0.0


def test_training_metric_must_be_one_known_label_free_metric():
    with pytest.raises(GanforgeError, match="unknown metric 'fidd'"):
        make_training_evaluator("fidd", dataset="mnist", data_dir=None, device="cpu", log=quiet)
    with pytest.raises(GanforgeError, match="exactly one"):
        make_training_evaluator("fid,kid", dataset="mnist", data_dir=None, device="cpu", log=quiet)
    with pytest.raises(GanforgeError, match="class-conditional"):
        make_training_evaluator("class-accuracy", dataset="mnist", data_dir=None, device="cpu", log=quiet)
