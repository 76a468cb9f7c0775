"""--eval-every: a metric logged beside the losses, a 'best' checkpoint, values named in the final grid."""

import json

from PIL import Image

from ganforge import TrainConfig, Trainer, load_run


def test_eval_during_training_logs_metric_and_keeps_best(tiny_evaluator, mnist_test, tmp_path):
    out = tmp_path / "run"
    cfg = TrainConfig(dataset="mnist", data_dir=str(mnist_test.data_dir), steps=4, batch_size=16, extra={"width": 8},
                      eval_every=2, eval_n=200, log_every=2, progress=False, out=str(out))
    lines = []
    Trainer(cfg, log=lines.append).train()
    recs = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    evals = [r for r in recs if r.get("metric") == "domain-fid"]
    assert [r["step"] for r in evals] == [2, 4] and all(r["domain_fid"] > 0 for r in evals)
    best_value = min(r["domain_fid"] for r in evals)
    best = load_run(out, checkpoint="best")
    assert best.step == [r["step"] for r in evals if r["domain_fid"] == best_value][0]
    assert Image.open(out / "final_grid.png").text["domain_fid"] == f"{evals[-1]['domain_fid']:.6g}"
    assert any("domain_fid" in ln and "best" in ln for ln in lines)
    assert (out / "losses.png").stat().st_size > 0
