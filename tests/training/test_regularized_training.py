"""The issue-5 training options inside the Trainer: what each one changes, and what is refused."""

import pytest
import torch

from ganforge import GanforgeError, TrainConfig, Trainer
from ganforge.cli import build_parser

BASE = {"preset": "dcgan-28-fast", "dataset": "mnist-sample", "batch_size": 8, "extra": {"width": 4},
        "progress": False, "log_every": 1}


def quiet(*_):
    pass


def trainer(tmp_path, **kw) -> Trainer:
    return Trainer(TrainConfig(**{**BASE, "steps": 4, "out": str(tmp_path / "run"), **kw}), log=quiet)


@pytest.mark.parametrize("field", ["r1_gamma", "gp_weight"])
def test_penalties_refuse_the_simultaneous_update(tmp_path, field):
    with pytest.raises(GanforgeError, match=f"{field} need a separate D step"):
        trainer(tmp_path, d_update="simultaneous", **{field: 1.0})


@pytest.mark.parametrize("field,value,match", [
    ("augment", "translation,zoom", "unknown augmentation 'zoom'"),
    ("spectral_norm", "g", "spectral_norm must be one of none, d, gd"),
    ("lr_schedule", "step", "lr_schedule must be one of constant, linear, cosine"),
    ("r1_every", 0, "r1_every must be a positive integer"),
])
def test_bad_values_are_one_line_errors(tmp_path, field, value, match):
    with pytest.raises(GanforgeError, match=match):
        trainer(tmp_path, **{field: value})


def test_penalty_is_added_on_lazy_steps_only(tmp_path):
    t = trainer(tmp_path, r1_gamma=2.0, r1_every=4)
    real = t.sampler.batch(0)
    fake = torch.zeros_like(real)
    from ganforge.penalties import r1_penalty

    expected = 0.5 * 2.0 * 4 * r1_penalty(t.D, real)  # gamma/2, times k on the lazy step
    assert torch.allclose(t.gan.penalty(real, fake, None, 0), expected)
    assert t.gan.penalty(real, fake, None, 1) == 0.0


def test_spectral_norm_wraps_d_and_optionally_g(tmp_path):
    def wrapped(m):
        return any(name.endswith("parametrizations") for name, _ in m.named_modules())

    t = trainer(tmp_path, spectral_norm="d")
    assert wrapped(t.D) and not wrapped(t.G)
    t = trainer(tmp_path / "b", spectral_norm="gd")
    assert wrapped(t.D) and wrapped(t.G) and wrapped(t.G_ema)


def test_augment_sits_in_front_of_d(tmp_path):
    t = trainer(tmp_path, augment="cutout")
    x = torch.ones(8, 1, 28, 28)
    seen = []
    t.D.forward = lambda inp: seen.append(inp) or inp.mean(dim=(1, 2, 3))
    t.gan._d_view()(x)
    assert (seen[0] == 0).any() and not (x == 0).any()  # D saw cut-out images
    plain = trainer(tmp_path / "b")
    assert plain.gan._d_view() is plain.D_run and plain.gan._d_view(eager=True) is plain.D  # no augmentation


def test_lr_schedule_sets_the_optimiser_lr_from_the_step(tmp_path):
    t = trainer(tmp_path, lr_schedule="linear", steps=10, lr_g=1e-3, lr_d=2e-3)
    t.step = 5
    t.train_step()
    assert t.opt_g.param_groups[0]["lr"] == pytest.approx(5e-4)
    assert t.opt_d.param_groups[0]["lr"] == pytest.approx(1e-3)


def test_lr_decay_steps_keeps_the_rate_until_the_last_steps(tmp_path):
    t = trainer(tmp_path, lr_schedule="linear", lr_decay_steps=4, steps=10, lr_g=1e-3, lr_d=2e-3)
    t.step = 5
    t.train_step()  # step 5 of 10, decay from step 6: still the full rate
    assert (t.opt_g.param_groups[0]["lr"], t.opt_d.param_groups[0]["lr"]) == (1e-3, 2e-3)
    t.step = 8
    t.train_step()
    assert t.opt_g.param_groups[0]["lr"] == pytest.approx(5e-4)
    assert t.opt_d.param_groups[0]["lr"] == pytest.approx(1e-3)


@pytest.mark.parametrize("kw,match", [
    ({"lr_decay_steps": 3}, "lr_decay_steps 3 needs a decaying lr_schedule"),  # dcgan-28-fast is constant
    ({"lr_decay_steps": 3, "lr_schedule": "constant"}, "needs a decaying lr_schedule"),
    ({"lr_decay_steps": 5, "lr_schedule": "linear"}, "lr_decay_steps 5 is more than the run's 4 steps"),
    ({"lr_decay_steps": 0, "lr_schedule": "linear"}, "lr_decay_steps must be a positive integer"),
])
def test_bad_lr_decay_steps_are_refused(tmp_path, kw, match):
    with pytest.raises(GanforgeError, match=match):
        trainer(tmp_path, **kw)


def test_cli_flags_reach_the_config(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr("ganforge.training.Trainer.train", lambda self: seen.setdefault("cfg", self.cfg))
    args = build_parser().parse_args([
        "train", "--dataset", "mnist-sample", "--steps", "1", "--out", str(tmp_path / "r"), "--r1-gamma", "0.5",
        "--r1-every", "8", "--gp-weight", "0", "--spectral-norm", "d", "--augment", "translation,color",
        "--lr-schedule", "cosine", "--lr-decay-steps", "1", "--loss", "ns"])
    args.func(args)
    cfg = seen["cfg"]
    assert (cfg.r1_gamma, cfg.r1_every, cfg.gp_weight, cfg.spectral_norm, cfg.augment, cfg.lr_schedule,
            cfg.lr_decay_steps, cfg.loss) == (0.5, 8, 0.0, "d", "translation,color", "cosine", 1, "ns")


@pytest.mark.parametrize("preset,dataset", [
    ("dcgan-28-hinge", "mnist-sample"),
    ("resnet-28-mnist", "mnist-sample"),
    ("resnet-28-stacked", "stacked-mnist"),  # offline: stacked from the shipped sample
    ("dcgan-28-stacked", "stacked-mnist"),
    ("dcgan-28-cond-wide", "mnist-sample"),  # conditional: the sample's labels
    ("resnet-64-rgb", "folder"),  # DiffAugment on, 64x64 RGB from a folder of images
])
def test_modern_presets_train_end_to_end(tmp_path, preset, dataset):
    from PIL import Image

    from ganforge import load_run

    if dataset == "folder":
        folder = tmp_path / "pics"
        folder.mkdir()
        for i in range(8):
            Image.fromarray(torch.randint(0, 256, (40, 40, 3), dtype=torch.uint8).numpy()).save(folder / f"{i}.png")
        dataset = f"folder:{folder}"
    out = tmp_path / "run"
    Trainer(TrainConfig(preset=preset, dataset=dataset, steps=2, batch_size=4, extra={"width": 4}, progress=False,
                        out=str(out)), log=quiet).train()
    run = load_run(out)  # spectral norm and the EMA load back into a fresh model
    c, h, w = run.image_shape
    assert run.generate(2).shape == (2, c, h, w)


def test_presets_print_their_measured_quality(monkeypatch, capsys):
    from ganforge.cli import main
    from ganforge.presets.quality import Figure, Measurement

    measured = Measurement(dataset="mnist", conditional=False, budget="1 s of one core: 2 steps of 64", steps=2,
                           batch_size=64, machine="test", command="test",
                           figures=(Figure(metric="domain_fid", value=1.0, n=10, headline=True),))
    monkeypatch.setattr("ganforge.preset_catalog.measured_quality", lambda: {"resnet-28-mnist": [measured]})
    assert main(["presets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    line = next(ln for ln in lines if ln.startswith("resnet-28-mnist "))
    assert "  domain FID 1  " in line
    assert "  not measured  " in next(ln for ln in lines if ln.startswith("resnet-28-fashion "))
