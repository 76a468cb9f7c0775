"""bench/metrics_reference.py end to end on Stacked MNIST, with the tiny evaluator (a few seconds)."""

import re

from metrics_helpers import load_bench


def _bench():
    return load_bench("metrics_reference")


def test_stacked_mnist_reference_counts_modes_of_real_and_collapsed_data(tiny_evaluator, mnist_test, capsys):
    assert _bench().main(["--datasets", "stacked-mnist", "--n", "400", "--data-dir", str(mnist_test.data_dir),
                          "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "| dataset | samples | modes ↑ |" in out
    modes = {label: int(n) for label, n in re.findall(r"\| stacked-mnist \| ([^|]+?) \| (\d+) modes", out)}
    # 400 real stacked images spread over hundreds of the 1,000 modes; one class sits in very few.
    assert modes["real (train split)"] > 250, out
    assert modes["one class (train, class 0)"] < 20, out
