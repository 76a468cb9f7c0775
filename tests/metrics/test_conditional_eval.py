"""`ganforge eval` on a real class-conditional run: class-accuracy is in the default set and is computed
from the classes the generator was asked for, which follow the real split's class mix (or are uniform)."""

import json

import pytest
import torch
from metrics_helpers import quiet

from ganforge import TrainConfig, Trainer, load_run
from ganforge.errors import GanforgeError
from ganforge.metrics.evaluate import evaluate_run
from ganforge.metrics.realdata import class_mix


def test_eval_of_a_conditional_run_reports_class_accuracy(tiny_evaluator, mnist_test, tmp_path):
    out = tmp_path / "run"
    Trainer(TrainConfig(preset="dcgan-28-cond", dataset="mnist-sample", steps=1, batch_size=16,
                        extra={"width": 8}, out=str(out), progress=False, data_dir=str(mnist_test.data_dir)),
            log=quiet).train()
    run = load_run(out)
    asked = []
    run.generator.register_forward_hook(lambda m, args, res: asked.append(args[1].clone()))
    entries = evaluate_run(run, None, n=1000, log=quiet, progress=False)  # the default metric set
    assert "class-accuracy" in entries and 0 <= entries["class-accuracy"]["class_accuracy"] <= 1
    # MNIST's test split: 1,135 ones and 892 fives in 10,000, so 113-114 ones and 89 fives in 1,000
    counts = torch.bincount(torch.cat(asked), minlength=10)
    assert counts.sum() == 1000 and torch.equal(counts, class_mix(torch.bincount(mnist_test.labels), 1000).bincount())
    assert counts[1] in (113, 114) and counts[5] == 89
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["class-accuracy"]["class_accuracy"] == entries["class-accuracy"]["class_accuracy"]
    assert saved["class-accuracy"]["classes"] == "real"

    asked.clear()
    evaluate_run(run, "class-accuracy", n=200, classes="uniform", log=quiet, progress=False)
    assert torch.equal(torch.cat(asked), torch.arange(200) % 10)  # equal numbers of each class
    assert json.loads((out / "metrics.json").read_text())["class-accuracy"]["classes"] == "uniform"
    with pytest.raises(GanforgeError, match="--classes even: expected one of real, uniform"):
        evaluate_run(run, "class-accuracy", n=200, classes="even", log=quiet, progress=False)


def test_eval_every_on_a_conditional_run_asks_for_the_real_class_mix(tiny_evaluator, mnist_test, tmp_path):
    out = tmp_path / "run"
    cfg = TrainConfig(preset="dcgan-28-cond", dataset="mnist-sample", data_dir=str(mnist_test.data_dir), steps=2,
                      batch_size=16, extra={"width": 8}, eval_every=2, eval_n=100, ema_kimg=0, progress=False,
                      out=str(out))
    trainer = Trainer(cfg, log=quiet)
    asked = []
    trainer.G.register_forward_hook(lambda m, args, res: asked.append(args[1].clone()) if not m.training else None)
    trainer.train()
    evals = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines() if "metric" in x]
    assert evals[-1]["step"] == 2 and evals[-1]["domain_fid"] > 0
    # inference-mode calls: the fixed grids (10 rows of 5) and the evaluation's 100 samples
    eval_labels = torch.cat([y for y in asked if len(y) != 50])
    assert torch.equal(eval_labels, class_mix(torch.bincount(mnist_test.labels), 100))
