"""The CLI glue: parsers, defaults, func= wiring, early errors."""

import argparse

import pytest

from ganforge.errors import GanforgeError
from ganforge.metrics import commands


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ganforge")
    sub = p.add_subparsers(dest="command", required=True)
    commands.add_eval_parser(sub)
    commands.add_evaluator_parser(sub)
    return p


def test_eval_defaults():
    args = parser().parse_args(["eval", "runs/x"])
    assert args.func is commands.cmd_eval
    assert (args.run_dir, args.metrics, args.n, args.n_inception, args.split) == ("runs/x", None, None, None, "test")
    assert (args.batch_size, args.inception_weights, args.device, args.checkpoint) == (None, None, "auto", "last")
    assert args.classes == "real"


def test_eval_all_flags():
    args = parser().parse_args(["eval", "runs/x", "--metrics", "fid,kid,is,pr", "--n", "500", "--n-inception", "50",
                                "--split", "train", "--batch-size", "32", "--inception-weights", "w.pth",
                                "--device", "cpu", "--seed", "3", "--classes", "uniform", "--no-progress"])
    assert (args.metrics, args.n, args.n_inception, args.split, args.batch_size) == ("fid,kid,is,pr", 500, 50,
                                                                                      "train", 32)
    assert (args.inception_weights, args.device, args.seed, args.no_progress) == ("w.pth", "cpu", 3, True)
    assert args.classes == "uniform"


@pytest.mark.parametrize("bad", [["--n", "0"], ["--split", "val"], ["--batch-size", "x"], ["--classes", "even"]])
def test_eval_rejects_bad_values(bad, capsys):
    with pytest.raises(SystemExit):
        parser().parse_args(["eval", "runs/x", *bad])


def test_unknown_metric_fails_before_the_run_is_loaded(monkeypatch):
    import ganforge.run

    monkeypatch.setattr(ganforge.run, "load_run", lambda *a, **k: pytest.fail("run loaded"))
    args = parser().parse_args(["eval", "runs/x", "--metrics", "fid,blurriness"])
    with pytest.raises(GanforgeError, match="unknown metric 'blurriness'; valid names: fid, kid, is, pr"):
        args.func(args)


def test_eval_passes_everything_to_evaluate_run(monkeypatch):
    import ganforge.metrics.evaluate
    import ganforge.run

    seen = {}
    monkeypatch.setattr(ganforge.run, "load_run", lambda path, checkpoint, device: ("run", path, checkpoint, device))
    monkeypatch.setattr(ganforge.metrics.evaluate, "evaluate_run", lambda run, metrics, **kw: seen.update(
        run=run, metrics=metrics, **kw))
    args = parser().parse_args(["eval", "runs/x", "--metrics", "FID, mode-collapse", "--n", "64", "--device", "cpu",
                                "--classes", "uniform"])
    assert args.func(args) == 0
    assert seen["run"] == ("run", "runs/x", "last", "cpu")
    assert seen["metrics"] == ["fid", "class-kl"] and seen["n"] == 64 and seen["inception_weights"] is None
    assert seen["classes"] == "uniform"


def test_bad_device_is_a_one_line_error():
    with pytest.raises(GanforgeError, match="--device gpu: expected auto, cpu, cuda"):
        commands._device("gpu")


def test_evaluator_train_parser():
    args = parser().parse_args(["evaluator", "train", "--dataset", "fashion-mnist", "--epochs", "2",
                                "--data-dir", "/data"])
    assert args.func is commands.cmd_evaluator_train
    assert (args.dataset, args.epochs, args.data_dir, args.device) == ("fashion-mnist", 2, "/data", "auto")
    with pytest.raises(SystemExit):
        parser().parse_args(["evaluator", "train", "--dataset", "cifar10"])
    with pytest.raises(SystemExit):
        parser().parse_args(["evaluator"])


def test_evaluator_train_calls_train_evaluator(monkeypatch):
    from ganforge.metrics import evaluator

    seen = {}
    monkeypatch.setattr(evaluator, "train_evaluator", lambda dataset, **kw: seen.update(dataset=dataset, **kw))
    args = parser().parse_args(["evaluator", "train", "--dataset", "mnist", "--device", "cpu", "--no-progress"])
    assert args.func(args) == 0
    assert seen == {"dataset": "mnist", "data_dir": None, "epochs": None, "device": "cpu", "progress": False}
