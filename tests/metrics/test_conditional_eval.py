"""`ganforge eval` on a real class-conditional run: class-accuracy is in the default set and is computed
from the classes the generator was asked for."""

import json

import torch
from metrics_helpers import quiet

from ganforge import TrainConfig, Trainer, load_run
from ganforge.metrics.evaluate import evaluate_run


def test_eval_of_a_conditional_run_reports_class_accuracy(tiny_evaluator, mnist_test, tmp_path):
    out = tmp_path / "run"
    Trainer(TrainConfig(preset="dcgan-28-cond", dataset="mnist-sample", steps=1, batch_size=16,
                        extra={"width": 8}, out=str(out), progress=False, data_dir=str(mnist_test.data_dir)),
            log=quiet).train()
    run = load_run(out)
    asked = []
    run.generator.register_forward_hook(lambda m, args, res: asked.append(args[1].clone()))
    entries = evaluate_run(run, None, n=200, log=quiet, progress=False)  # the default metric set
    assert "class-accuracy" in entries and 0 <= entries["class-accuracy"]["class_accuracy"] <= 1
    assert torch.equal(torch.cat(asked), torch.arange(200) % 10)  # equal numbers of each class
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["class-accuracy"]["class_accuracy"] == entries["class-accuracy"]["class_accuracy"]


def test_eval_every_on_a_conditional_run_asks_for_every_class_equally(tiny_evaluator, mnist_test, tmp_path):
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
    assert torch.equal(eval_labels, torch.arange(100) % 10)
