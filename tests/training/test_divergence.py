"""The divergence guard: a NaN or Inf loss or gradient skips that update (on the device, no sync),
the log counts it, and too many in a row stop the run with the last good checkpoint intact."""

import dataclasses
import json

import pytest
import torch
from safetensors import safe_open

from ganforge import TrainConfig, Trainer
from ganforge.errors import GanforgeError

BASE = {"preset": "dcgan-28-fast", "dataset": "mnist-sample", "batch_size": 8, "extra": {"width": 4},
        "progress": False, "log_every": 1}


def quiet(*args, **kwargs):
    pass


def poison_g_loss(trainer: Trainer, bad_steps: set[int]) -> None:
    """Make G's loss NaN at the given (0-based) steps."""
    real_g = trainer.gan.loss.g_fake

    def g(logits):
        value = real_g(logits)
        return value * float("nan") if trainer.step in bad_steps else value

    trainer.gan.loss = dataclasses.replace(trainer.gan.loss, g_fake=g)


def adam_steps(opt: torch.optim.Optimizer) -> int:
    return int(next(iter(opt.state.values()))["step"])


def test_a_nan_step_is_skipped_and_counted(tmp_path):
    t = Trainer(TrainConfig(**BASE, steps=5, out=str(tmp_path / "run")), log=quiet)
    poison_g_loss(t, {2})
    t.train()
    assert adam_steps(t.opt_g) == 4  # one G update skipped ...
    assert adam_steps(t.opt_d) == 5  # ... D's were not
    assert all(torch.isfinite(p).all() for p in t.G.parameters())
    log = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r.get("skipped_steps", 0) for r in log] == [0, 0, 1, 1, 1]


def test_skipped_update_leaves_weights_untouched(tmp_path):
    t = Trainer(TrainConfig(**BASE, steps=3, out=str(tmp_path / "run")), log=quiet)
    poison_g_loss(t, {0, 1, 2})
    before = [p.detach().clone() for p in t.G.parameters()]
    t.train()
    assert all(torch.equal(a, b) for a, b in zip(before, t.G.parameters()))


def test_too_many_bad_steps_stop_the_run_and_keep_the_last_good_checkpoint(tmp_path):
    out = tmp_path / "run"
    t = Trainer(TrainConfig(**BASE, steps=20, checkpoint_every=2, max_bad_steps=3, out=str(out)), log=quiet)
    poison_g_loss(t, set(range(5, 100)))  # steps 6, 7, 8 go bad; the check at step 8 stops the run
    with pytest.raises(GanforgeError, match=r"diverged at step 8: 3 steps in a row .*\(step 6\), is intact"):
        t.train()
    # Step 6's checkpoint holds the weights of step 5: its bad update was skipped.
    with safe_open(str(out / "checkpoints" / "last.safetensors"), "pt") as f:
        assert json.loads(f.metadata()["meta"])["step"] == 6
        assert all(torch.isfinite(f.get_tensor(k)).all() for k in f.keys() if not k.startswith("rng/"))


def test_non_finite_weights_are_never_checkpointed(tmp_path):
    out = tmp_path / "run"
    t = Trainer(TrainConfig(**BASE, steps=10, checkpoint_every=2, out=str(out)), log=quiet)
    real_step = t.train_step

    def step():
        stats = real_step()
        if t.step == 2:  # e.g. a finite but huge update overflowed a BatchNorm statistic
            next(iter(t.G.buffers())).fill_(float("inf"))
        return stats

    t.train_step = step
    with pytest.raises(GanforgeError, match=r"G's weights or BatchNorm statistics hold NaN or Inf .*\(step 2\)"):
        t.train()
    with safe_open(str(out / "checkpoints" / "last.safetensors"), "pt") as f:
        assert json.loads(f.metadata()["meta"])["step"] == 2


def test_cli_reports_divergence_in_one_line(tmp_path, capsys, monkeypatch):
    from ganforge import cli, training

    real_init = training.Trainer.__init__

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        poison_g_loss(self, set(range(100)))

    monkeypatch.setattr(training.Trainer, "__init__", init)
    code = cli.main(["train", "--dataset", "mnist-sample", "--batch-size", "8", "--steps", "10",
                     "--max-bad-steps", "2", "--log-every", "1", "--no-progress", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("ganforge: error: training diverged")
