"""bench/preset_quality.py: the step count follows the budget, and each run is trained and evaluated."""

import json
import re
import shutil

import pytest
from metrics_helpers import load_bench

from ganforge.presets import get_preset
from ganforge.presets.quality import QUALITY_FILE, headline, read_quality


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
    quality = tmp_path / "quality.json"
    shutil.copy(QUALITY_FILE, quality)
    _bench().main(["--presets", "dcgan-28-fast,mlp-sgd", "--budget-s", "1", "--n", "200", "--data-dir",
                   str(mnist_test.data_dir), "--out", str(out), "--quality-file", str(quality)])
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

    # Each run is recorded in quality.json beside what was there: the 600-s figures stay, as does every other
    # preset's record.
    before, after = read_quality(QUALITY_FILE), read_quality(quality)
    assert {k: v for k, v in after.items() if k not in ("dcgan-28-fast", "mlp-sgd")} == \
        {k: v for k, v in before.items() if k not in ("dcgan-28-fast", "mlp-sgd")}
    for r in results.values():
        name = r["preset"]
        assert after[name][:-1] == before[name] and headline(after[name]) == headline(before[name])
        new = after[name][-1]
        assert (new.dataset, new.budget_s, new.steps, new.batch_size) == ("mnist", 1.0, r["steps"], r["batch_size"])
        figures = {f.metric: f for f in new.figures}
        assert figures["domain_fid"].value == r["domain_fid"] and figures["domain_fid"].n == 200
        assert "--presets " + name + " --budget-s 1 --data-dir DATA --n 200" in new.command
        assert new.budget.startswith("1 s of ") and f"{r['steps']:,} steps of {r['batch_size']}" in new.budget


def test_an_unknown_preset_is_named_before_anything_runs(tmp_path):
    with pytest.raises(SystemExit, match="unknown preset 'dcgan-29'"):
        _bench().main(["--presets", "dcgan-28-fast,dcgan-29", "--out", str(tmp_path / "pq")])
