"""Update rules: each registered entry runs its scheme's passes and updates in its order, and every rule
trains with the losses it allows (the relativistic pair loss included)."""

from __future__ import annotations

import math

import pytest
import torch

from ganforge import GanforgeError, TrainConfig, Trainer
from ganforge.losses import LOSSES
from ganforge.updates import UPDATE_RULES
from helpers import resolved


class Recorder:
    """A Step whose networks are scalars: records what the rule does, in order."""

    def __init__(self, loss: str = "bce", d_steps: int = 1, reuse: bool = False) -> None:
        self.loss, self.index, self.d_steps, self.reuse_noise = LOSSES[loss], 3, d_steps, reuse
        self.log: list[str] = []
        self.w = torch.tensor(0.5, requires_grad=True)

    def real(self, d_step):
        self.log.append(f"real {d_step}")
        return torch.ones(4), None

    def noise(self):
        self.log.append("noise")
        return torch.randn(4), None

    def generate(self, z, y):
        self.log.append("G")
        return z * self.w

    def discriminate(self, x, y):
        self.log.append(f"D{len(x)}")
        return x * self.w

    def fakes_for_d(self, z, y, keep_graph):
        self.log.append("G for D" + (" (kept)" if keep_graph else ""))
        return z * self.w

    def g_forward_shareable(self):
        return True

    def penalty(self, real, fake, y_real, d_step):
        self.log.append(f"penalty {d_step}")
        return 0.0

    def zero_grad(self, net):
        self.log.append(f"zero {net}")

    def backward_g(self, loss, retain_graph=False):
        self.log.append("backward G")
        loss.backward(retain_graph=True)

    def backward_d(self, loss):
        self.log.append("backward D")
        loss.backward(retain_graph=True)

    def backward_both(self, loss_g, loss_d, fake_logits, fake):
        return False

    def update(self, net, loss):
        self.log.append(f"update {net}")


def test_the_four_schemes_are_registered_with_what_they_allow():
    assert list(UPDATE_RULES) == ["simultaneous", "sum", "concat", "separate"]
    assert not UPDATE_RULES["simultaneous"].takes_d_steps and not UPDATE_RULES["simultaneous"].penalties
    assert UPDATE_RULES["separate"].separate_d_halves and not UPDATE_RULES["sum"].separate_d_halves


def test_simultaneous_runs_one_forward_and_updates_both():
    s = Recorder()
    UPDATE_RULES["simultaneous"].run(s)
    assert s.log == ["real 3", "noise", "G", "D4", "D4", "zero G", "zero D", "backward G", "backward D",
                     "update G", "update D"]


@pytest.mark.parametrize("rule,d_pass", [("sum", ["D4", "D4"]), ("concat", ["D8"])])
def test_sum_and_concat_take_d_steps_then_g_on_fresh_noise(rule, d_pass):
    s = Recorder(d_steps=2)
    lg, ld, r, f = UPDATE_RULES[rule].run(s)
    one_d_step = lambda k: [f"real {k}", "noise", "G for D", "zero D", *d_pass, f"penalty {k}", "update D"]  # noqa: E731
    assert s.log == [*one_d_step(6), *one_d_step(7), "zero G", "noise", "G", "D4", "backward G", "update G"]
    assert r.shape == f.shape == (4,)


def test_separate_updates_d_on_real_then_on_fake():
    s = Recorder()
    UPDATE_RULES["separate"].run(s)
    assert s.log == ["real 3", "noise", "G for D", "zero D", "D4", "penalty 3", "update D", "zero D", "D4",
                     "update D", "zero G", "noise", "G", "D4", "backward G", "update G"]


def test_reused_noise_shares_the_last_d_steps_forward_with_g():
    s = Recorder(d_steps=1, reuse=True)
    UPDATE_RULES["concat"].run(s)
    assert s.log[2] == "G for D (kept)" and s.log[-4:] == ["zero G", "D4", "backward G", "update G"]  # no new G


def test_a_relativistic_g_step_reads_d_on_the_real_batch():
    s = Recorder(loss="rpgan")
    UPDATE_RULES["sum"].run(s)
    assert s.log[-5:] == ["G", "D4", "D4", "backward G", "update G"]  # D on the fakes, then on the reals


def test_a_relativistic_loss_with_the_separate_scheme_is_refused_in_one_line():
    with pytest.raises(GanforgeError, match="loss rpgan pairs real and fake logits, and d_update separate updates "
                                            "D on them apart; use d_update sum, concat or simultaneous"):
        resolved(preset="dcgan-28-fast", loss="rpgan", d_update="separate")


def test_d_steps_need_a_rule_with_a_d_step_of_its_own():
    with pytest.raises(GanforgeError, match="d_steps 2 needs a D step of its own; d_update simultaneous"):
        resolved(preset="dcgan-28", d_steps=2)


@pytest.mark.parametrize("rule", ["simultaneous", "sum", "concat"])
def test_rpgan_trains_with_every_rule_that_pairs_real_and_fake(tmp_path, rule):
    t = Trainer(TrainConfig(preset="dcgan-28-fast", dataset="mnist-sample", batch_size=8, extra={"width": 4},
                            loss="rpgan", d_update=rule, steps=3, out=str(tmp_path / "run"), progress=False,
                            log_every=1), log=lambda *_: None)
    before = [p.clone() for p in t.D.parameters()]
    t.train()
    assert any(not torch.equal(a, b) for a, b in zip(before, t.D.parameters()))
    assert all(math.isfinite(v) for v in t.train_step().tolist())
