"""PacGAN packing: the packing op, D built for packs in every preset family, training and resume with
every update scheme, the penalties through packing, and the refusals."""

import copy
import json
import math

import pytest
import torch

from ganforge import GanforgeError, TrainConfig, Trainer
from ganforge.cli import build_parser, main
from ganforge.pacgan import pack
from ganforge.penalties import gradient_penalty, r1_penalty
from ganforge.presets import PRESETS, build_models, d_channels
from helpers import resolved

BASE = {"preset": "dcgan-28-fast", "dataset": "mnist-sample", "batch_size": 8, "extra": {"width": 4},
        "progress": False, "log_every": 1}


def quiet(*_):
    pass


def trainer(tmp_path, **kw) -> Trainer:
    return Trainer(TrainConfig(**{**BASE, "steps": 2, "out": str(tmp_path / "run"), **kw}), log=quiet)


# ---- the op ------------------------------------------------------------------------------------------------

def test_pack_stacks_consecutive_samples_on_channels():
    b, c, h, w = 6, 2, 2, 3
    x = torch.arange(b * c * h * w).reshape(b, c, h, w)
    p = pack(x, 3)
    assert p.shape == (2, 6, 2, 3)
    for i in range(2):  # pack i holds samples 3i, 3i+1, 3i+2, in that order, each with its C channels
        for j in range(3):
            assert torch.equal(p[i, j * c:(j + 1) * c], x[3 * i + j])
    assert p[1, 2, 0, 0].item() == x[4, 0, 0, 0].item() == 4 * c * h * w  # sample 4, channel 0
    assert pack(x, 1) is x
    with pytest.raises(GanforgeError, match="a batch of 6 images cannot be packed by 4"):
        pack(x, 4)


# ---- D of every preset family ---------------------------------------------------------------------------

def _first_layer(d: torch.nn.Module) -> torch.nn.Module:
    return next(m for m in d.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)))


@pytest.mark.parametrize("name", [n for n, p in PRESETS.items() if not p.defaults.get("conditional")])
def test_every_preset_builds_d_for_packs(name):
    c, h, w = PRESETS[name].image_shape
    extra = {"width": 4} if "width" in PRESETS[name].defaults.get("extra", {}) else {}  # small where it can be
    cfg = resolved(preset=name, pack=2, extra=extra)
    assert d_channels(cfg) == 2 * c
    g, d = build_models(cfg)
    g.eval()
    d.eval()
    first = _first_layer(d)
    if isinstance(first, torch.nn.Conv2d):
        assert first.in_channels == 2 * c
    else:  # the MLP D flattens its input
        assert first.in_features == 2 * c * h * w
    with torch.no_grad():
        x = g(torch.randn(4, cfg.z_dim))
        assert d(pack(x, 2)).shape == (2,)
        with pytest.raises(RuntimeError):  # an unpacked batch no longer fits
            d(x)


# ---- training -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("d_update", ["sum", "concat", "separate", "simultaneous"])
def test_short_run_with_every_update_scheme(tmp_path, d_update):
    t = trainer(tmp_path, pack=2, d_update=d_update)
    seen = []  # (images in, logits out) of every D call
    t.D.register_forward_hook(lambda m, args, out: seen.append((args[0].shape, out.shape)))
    t.train()
    b = 8
    # one pack per 2 images; concat's D step sees the real and fake batches together
    expected = {b // 2, b} if d_update == "concat" else {b // 2}
    assert {shape[0] for shape, _ in seen} == expected
    for shape, out in seen:
        assert shape[1] == 2 and out == (shape[0],)
    for rec in (json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()):
        assert all(math.isfinite(rec[k]) for k in ("loss_g", "loss_d", "d_real", "d_fake")), rec


def test_concat_splits_the_logits_into_packed_real_and_packed_fake(tmp_path):
    t = trainer(tmp_path, pack=2, d_update="concat", steps=1)
    before = copy.deepcopy(t.D)
    fakes = []
    fakes_for_d = t.gan.fakes_for_d
    t.gan.fakes_for_d = lambda z, y, keep: fakes.append(fakes_for_d(z, y, keep)) or fakes[-1]
    concat = []
    t.D.register_forward_hook(lambda m, args, out: concat.append(out.detach()) if len(concat) == 0 else None)
    lg, ld, d_real, d_fake = t.train_step().tolist()
    real = t.sampler.batch(0)
    with torch.no_grad():
        r, f = before(pack(real, 2)), before(pack(fakes[0], 2))
    assert r.shape == f.shape == (4,)
    both = concat[0]
    assert both.shape == (8,)
    torch.testing.assert_close(both[:4], r, rtol=0, atol=1e-6)  # no pack holds a real and a fake image
    torch.testing.assert_close(both[4:], f, rtol=0, atol=1e-6)
    assert d_real == pytest.approx(torch.sigmoid(r).mean().item(), abs=1e-6)
    assert d_fake == pytest.approx(torch.sigmoid(f).mean().item(), abs=1e-6)
    assert ld == pytest.approx(0.5 * (t.loss.d_real(r) + t.loss.d_fake(f)).item(), abs=1e-6)


# ---- the penalties through packing ---------------------------------------------------------------------------

def test_r1_through_packing_is_the_per_image_gradient(tmp_path):
    t = trainer(tmp_path, pack=2, r1_gamma=1.0)
    real = t.sampler.batch(0)
    d = t.gan._d_view(eager=True)
    penalty = r1_penalty(d, real)
    assert math.isfinite(penalty.item()) and penalty.item() > 0
    # the gradient w.r.t. the packed input, regrouped by image: the same numbers, averaged over images
    xp = pack(real, 2).requires_grad_(True)
    (grad,) = torch.autograd.grad(t.D(xp).sum(), xp)
    torch.testing.assert_close(penalty.detach(), grad.pow(2).sum() / real.shape[0])
    total = t.gan.penalty(real, torch.zeros_like(real), None, 0)
    assert torch.allclose(total, 0.5 * penalty)
    penalty.backward()  # differentiable, as D's loss needs
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in t.D.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in t.D.parameters())


def test_gradient_penalty_through_packing(tmp_path):
    t = trainer(tmp_path / "a", pack=2, gp_weight=10.0, loss="wasserstein", d_update="separate", steps=2)
    real = t.sampler.batch(0)
    gp = gradient_penalty(t.gan._d_view(eager=True), real, -real, generator=t.noise)
    assert math.isfinite(gp.item()) and gp.item() > 0
    t.train()


# ---- options and refusals --------------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix,text", [(".toml", "pack = 2\n"), (".yaml", "pack: 2\n"), (".json", '{"pack": 2}')])
def test_config_files_and_the_flag_set_pack(tmp_path, monkeypatch, suffix, text):
    path = tmp_path / f"c{suffix}"
    path.write_text(text)
    assert TrainConfig.from_file(path).pack == 2
    seen = {}
    monkeypatch.setattr("ganforge.training.Trainer.train", lambda self: seen.setdefault("cfg", self.cfg))
    args = build_parser().parse_args(["train", "--dataset", "mnist-sample", "--batch-size", "8", "--steps", "1",
                                      "--out", str(tmp_path / "r"), "--config", str(path), "--pack", "4"])
    args.func(args)
    assert seen["cfg"].pack == 4  # the flag wins over the file


@pytest.mark.parametrize("data,match", [
    ({"pack": 0}, "pack must be a positive integer, got 0"),
    ({"pack": -2}, "pack must be a positive integer, got -2"),
    ({"pack": 2.5}, "field 'pack' must be an integer, got 2.5"),
    ({"pack": "2"}, "field 'pack' must be an integer, got '2'"),
    ({"pack": True}, "field 'pack' must be an integer, got True"),
])
def test_bad_pack_values_are_one_line_errors(data, match):
    with pytest.raises(GanforgeError, match=match) as e:
        TrainConfig.from_dict(data)
    assert "\n" not in str(e.value)


def test_packing_a_conditional_run_is_refused_in_one_line():
    with pytest.raises(GanforgeError, match=r"pack 2 does not work with a conditional run \(the projection D") as e:
        resolved(preset="dcgan-28-cond", pack=2)
    assert "\n" not in str(e.value)


def test_non_integer_pack_in_a_config_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("pack = 1.5\n")
    with pytest.raises(GanforgeError, match=f"{path}: field 'pack' must be an integer, got 1.5"):
        TrainConfig.from_file(path)


def test_pack_flag_zero_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--pack", "0"])
    assert e.value.code == 2
    assert "argument --pack: must be a positive integer, got '0'" in capsys.readouterr().err


@pytest.mark.parametrize("d_update", ["sum", "concat", "separate", "simultaneous"])
def test_batch_not_divisible_by_pack_is_refused(tmp_path, d_update):
    with pytest.raises(GanforgeError, match="^batch size 8 is not divisible by pack 3; choose a batch size that is "
                                            "a multiple of 3$"):
        trainer(tmp_path, pack=3, d_update=d_update)


def test_conditional_preset_with_pack_is_refused(tmp_path):
    with pytest.raises(GanforgeError, match="pack 2 does not work with a conditional run"):
        trainer(tmp_path, preset="dcgan-28-cond", pack=2)
    trainer(tmp_path / "ok", preset="dcgan-28-cond", pack=1)  # pack 1 is off
