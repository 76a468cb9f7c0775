"""bench/preset_quality.py: the step count follows the budget, and each run is trained and evaluated."""

import json
import re

import pytest
from metrics_helpers import load_bench

from ganforge.presets import get_preset


def _bench():
    return load_bench("preset_quality")


def test_calibration_turns_the_budget_into_steps_and_trains_nothing(tmp_path, capsys):
    _bench().main(["--presets", "dcgan-28-fast:mnist-sample,mlp-sgd:mnist-sample", "--budget-s", "3",
                   "--calibrate-only", "--out", str(tmp_path / "pq")])
    rows = re.findall(r"^(\S+) +(\S+) +([\d.]+) ms/step  -> (\d+) steps of (\d+)$", capsys.readouterr().out, re.M)
    assert [(r[0], r[1]) for r in rows] == [("dcgan-28-fast", "mnist-sample"), ("mlp-sgd", "mnist-sample")]
    for name, _, ms, steps, batch in rows:
        assert int(steps) == pytest.approx(3000 / float(ms), abs=1.5)  # printed ms are rounded
        assert int(batch) == get_preset(name).defaults["batch_size"]
    assert list((tmp_path / "pq").iterdir()) == []


def test_each_preset_is_trained_for_the_budget_and_evaluated(tiny_evaluator, mnist_test, tmp_path, capsys):
    out = tmp_path / "pq"
    _bench().main(["--presets", "dcgan-28-fast,mlp-sgd", "--budget-s", "1", "--n", "200", "--data-dir",
                   str(mnist_test.data_dir), "--out", str(out)])
    results = json.loads((out / "results.json").read_text())
    assert list(results) == ["dcgan-28-fast:mnist", "mlp-sgd:mnist"]
    for key, r in results.items():
        run = out / f"{r['preset']}-mnist"
        assert r["steps"] == pytest.approx(1000 / r["ms_per_step"], abs=1)
        assert r["images"] == r["steps"] * r["batch_size"]
        log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
        assert max(e["step"] for e in log) == r["steps"], key  # the run really trained that many steps
        saved = json.loads((run / "metrics.json").read_text())
        assert r["domain_fid"] == saved["domain-fid"]["domain_fid"] > 0 and r["n"] == 200
        assert 0 <= r["confident"] <= 1 and "fid" not in r  # no Inception weights given
    assert "mlp-sgd" in capsys.readouterr().out


def test_an_unknown_preset_is_named_before_anything_runs(tmp_path):
    with pytest.raises(SystemExit, match="unknown preset 'dcgan-29'"):
        _bench().main(["--presets", "dcgan-28-fast,dcgan-29", "--out", str(tmp_path / "pq")])
