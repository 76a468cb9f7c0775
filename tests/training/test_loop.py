"""The training loop: outputs of a run, exact resume, the update schemes, signals."""

import json
import os
import signal
import threading

import pytest
import torch
from safetensors import safe_open

from ganforge import GanforgeError, TrainConfig, Trainer, load_run
from helpers import resolved

TINY = {"dataset": "mnist-sample", "log_every": 2, "progress": False}


def tiny_config(**kw) -> TrainConfig:
    base = {"preset": "dcgan-28-fast", "batch_size": 16, "extra": {"width": 8}, **TINY}
    base.update(kw)
    return TrainConfig(**base)


def quiet(*_):
    pass


def test_run_folder_has_every_output(tmp_path):
    out = tmp_path / "run"
    Trainer(tiny_config(steps=6, grid_every=3, out=str(out)), log=quiet).train()
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["preset"] == "dcgan-28-fast" and cfg["batch_size"] == 16 and cfg["steps"] == 6
    assert cfg["lr_g"] == 1e-3 and cfg["optimizer"] == "adam"  # the preset's defaults are written out
    lines = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [2, 4, 6]
    for key in ("loss_g", "loss_d", "d_real", "d_fake", "images_per_sec", "time", "epoch", "images"):
        assert key in lines[-1]
    assert 0 <= lines[-1]["d_real"] <= 1
    assert sorted(p.name for p in (out / "grids").iterdir()) == [
        "step_000000.png", "step_000003.png", "step_000006.png"]
    assert (out / "final_grid.png").stat().st_size > 0
    assert (out / "losses.png").stat().st_size > 0
    with safe_open(str(out / "checkpoints" / "last.safetensors"), "pt") as f:
        assert json.loads(f.metadata()["meta"])["step"] == 6
    assert not [p for p in out.rglob("*.tmp")]  # no temporary files left behind


def test_grid_is_5x5_of_28px_digits(tmp_path):
    from PIL import Image

    out = tmp_path / "run"
    Trainer(tiny_config(steps=1, out=str(out)), log=quiet).train()
    img = Image.open(out / "final_grid.png")
    assert img.size == (5 * 28 + 6 * 2, 5 * 28 + 6 * 2) and img.mode == "L"


def _weights(run_dir):
    with safe_open(str(run_dir / "checkpoints" / "last.safetensors"), "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys() if not k.startswith("rng/")}


@pytest.mark.parametrize("preset,extra", [
    ("dcgan-28-fast", {"extra": {"width": 8}}),  # concat D update, Adam
    ("mlp-sgd", {}),  # separate D updates, SGD, BatchNorm in G, G in inference mode for D's fakes
    ("mlp-adam", {}),  # dropout in D: the global RNG state must be restored
    ("dcgan-28", {"z_dim": 8}),  # simultaneous update, Keras padding
    ("dcgan-28-fast", {"extra": {"width": 8}, "ema_kimg": 0.1}),  # with an EMA of G
    # lazy R1 and DiffAugment draw from the noise RNG; spectral norm keeps power-iteration buffers
    ("dcgan-28-fast", {"extra": {"width": 8}, "r1_gamma": 1.0, "r1_every": 2, "augment": "translation,cutout,color",
                       "spectral_norm": "gd", "loss": "hinge"}),
    # WGAN-GP with n_critic 2 on the ResNet; a constant lr, since a decay to the run's last step
    # depends on the total, which a split run changes on resume
    ("resnet-28-mnist", {"extra": {"width": 4}, "gp_weight": 10.0, "loss": "wasserstein", "d_steps": 2,
                         "d_update": "separate", "lr_schedule": "constant"}),
    ("dcgan-28-cond", {"extra": {"width": 8}}),  # class-conditional: fake labels come from the noise RNG
    # PacGAN packing behind DiffAugment, inside the lazy R1 penalty
    ("dcgan-28-fast", {"extra": {"width": 8}, "pack": 2, "augment": "translation,cutout", "r1_gamma": 1.0,
                       "r1_every": 2, "loss": "hinge"}),
])
def test_resume_is_exact(tmp_path, preset, extra):
    n = 6
    full, split = tmp_path / "full", tmp_path / "split"
    base = {"preset": preset, "batch_size": 8, **TINY, **extra}
    Trainer(TrainConfig(**base, steps=n, out=str(full)), log=quiet).train()
    Trainer(TrainConfig(**base, steps=n // 2, out=str(split)), log=quiet).train()
    Trainer.resume(split, steps=n, log=quiet).train()
    a, b = _weights(full), _weights(split)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    steps = [json.loads(x)["step"] for x in (split / "log.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == n


def test_resume_adds_a_decay_tail_exactly(tmp_path):
    # A constant-rate run resumed with a decay over its new last steps trains exactly what a run with
    # that schedule from the start does, and its config.json says so.
    full, split = tmp_path / "full", tmp_path / "split"
    Trainer(tiny_config(steps=6, lr_schedule="linear", lr_decay_steps=3, out=str(full)), log=quiet).train()
    Trainer(tiny_config(steps=3, out=str(split)), log=quiet).train()
    Trainer.resume(split, steps=6, lr_schedule="linear", lr_decay_steps=3, log=quiet).train()
    a, b = _weights(full), _weights(split)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    cfg = json.loads((split / "config.json").read_text())
    assert (cfg["lr_schedule"], cfg["lr_decay_steps"], cfg["steps"]) == ("linear", 3, 6)
    # The polished run's weights differ from the constant-rate run's: the decay did something.
    const = tmp_path / "const"
    Trainer(tiny_config(steps=6, out=str(const)), log=quiet).train()
    assert any(not torch.equal(a[k], v) for k, v in _weights(const).items())


@pytest.mark.parametrize("kw,match", [
    ({"steps": 5, "lr_schedule": "linear", "lr_decay_steps": 3}, "would start at step 2, before step 3"),
    ({"steps": 6, "lr_schedule": "linear"}, "give both a decaying schedule"),
    ({"steps": 6, "lr_decay_steps": 3}, "give both a decaying schedule"),
    ({"steps": 6, "lr_schedule": "constant", "lr_decay_steps": 3}, "give both a decaying schedule"),
])
def test_resume_refuses_a_decay_that_would_rewrite_past_steps(tmp_path, kw, match):
    out = tmp_path / "run"
    Trainer(tiny_config(steps=3, out=str(out)), log=quiet).train()
    with pytest.raises(GanforgeError, match=match):
        Trainer.resume(out, log=quiet, **kw)


def test_resume_refuses_a_second_schedule(tmp_path):
    out = tmp_path / "run"
    Trainer(tiny_config(steps=3, lr_schedule="cosine", out=str(out)), log=quiet).train()
    with pytest.raises(GanforgeError, match="already decays its learning rate"):
        Trainer.resume(out, steps=6, lr_schedule="linear", lr_decay_steps=3, log=quiet)


def test_resume_to_fewer_steps_is_refused(tmp_path):
    out = tmp_path / "run"
    Trainer(tiny_config(steps=2, out=str(out)), log=quiet).train()
    with pytest.raises(GanforgeError, match="already at step 2"):
        Trainer.resume(out, steps=2, log=quiet).train()


def test_epochs_count_the_whole_run(tmp_path):
    out = tmp_path / "run"
    t = Trainer(tiny_config(epochs=1, batch_size=2500, out=str(out)), log=quiet)
    assert t.total_steps == 2  # 5000 images / 2500
    t.train()
    t2 = Trainer.resume(out, epochs=2, log=quiet)
    assert t2.step == 2 and t2.total_steps == 4


def test_existing_run_folder_is_not_overwritten(tmp_path):
    out = tmp_path / "run"
    Trainer(tiny_config(steps=1, out=str(out)), log=quiet).train()
    with pytest.raises(GanforgeError, match="already exists"):
        Trainer(tiny_config(steps=1, out=str(out)), log=quiet)


def test_batch_larger_than_dataset_is_refused(tmp_path):
    with pytest.raises(GanforgeError, match="larger than dataset"):
        Trainer(tiny_config(steps=1, batch_size=6000, out=str(tmp_path / "r")), log=quiet)


def test_sigterm_checkpoints_and_stops_then_resumes(tmp_path):
    out = tmp_path / "run"
    t = Trainer(tiny_config(steps=10_000, out=str(out), checkpoint_every=10_000, grid_every=10_000), log=quiet)
    real_step = t.train_step

    def step_then_signal():
        stats = real_step()
        if t.step == 3:  # the 4th step is running: ask to stop
            os.kill(os.getpid(), signal.SIGTERM)
        return stats

    t.train_step = step_then_signal
    assert threading.current_thread() is threading.main_thread()
    with pytest.raises(KeyboardInterrupt):
        t.train()
    assert load_run(out).step == 4
    t2 = Trainer.resume(out, steps=6, log=quiet)
    assert t2.step == 4
    t2.train()
    assert load_run(out).step == 6


def test_losses_move_and_d_learns_on_the_real_data(tmp_path):
    # A plumbing check with a real signal: after some steps D tells real from fake better than chance.
    out = tmp_path / "run"
    Trainer(tiny_config(steps=30, batch_size=32, lr_d=1e-3, out=str(out), log_every=30), log=quiet).train()
    last = json.loads((out / "log.jsonl").read_text().splitlines()[-1])
    assert last["d_real"] > last["d_fake"]


def test_ema_update_arithmetic(tmp_path):
    t = Trainer(tiny_config(steps=10, ema_kimg=0.001, out=str(tmp_path / "r")), log=quiet)
    before = [p.clone() for p in t.G_ema.parameters()]
    t.gan.index = 99  # 100 steps of 16 images: ramp 0.05 * 1600 = 80 > 1 image, so half-life is 1 image
    with torch.no_grad():
        for p in t.G.parameters():
            p.add_(1.0)
    t.gan._update_ema()
    beta = 0.5 ** (16 / 1.0)
    for b, e, p in zip(before, t.G_ema.parameters(), t.G.parameters()):
        assert torch.allclose(e, b * beta + p * (1 - beta), atol=1e-6)
    for be, bg in zip(t.G_ema.buffers(), t.G.buffers()):
        assert torch.equal(be, bg)


def test_sampling_uses_the_ema_generator(tmp_path):
    out = tmp_path / "r"
    t = Trainer(tiny_config(steps=3, ema_kimg=1.0, out=str(out)), log=quiet)
    t.train()
    run = load_run(out)
    for a, b in zip(run.generator.parameters(), t.G_ema.parameters()):
        assert torch.equal(a, b)
    assert any(not torch.equal(a, b) for a, b in zip(run.generator.parameters(), t.G.parameters()))


# ---- class-conditional runs ----------------------------------------------------------------------

def test_sampler_labels_belong_to_their_images():
    from ganforge.training import BatchSampler

    labels = torch.arange(40) % 7
    images = labels.view(40, 1, 1, 1).expand(40, 1, 2, 2).to(torch.uint8).contiguous()  # pixel value = label
    sampler = BatchSampler(images, 8, seed=3, labels=labels)
    seen = []
    for i in range(7):  # across an epoch boundary (5 batches per epoch)
        x, y = sampler.labelled_batch(i)
        assert y.dtype == torch.int64 and y.shape == (8,)
        assert torch.equal(((x[:, 0, 0, 0] + 1) * 127.5).round().long(), y)
        assert torch.equal(x, sampler.batch(i))
        seen.append(y)
    assert not torch.equal(seen[0], seen[1])
    assert BatchSampler(images, 8, seed=3).labelled_batch(0)[1] is None


def test_conditional_run_records_classes_and_draws_one_grid_row_per_class(tmp_path):
    from PIL import Image

    out = tmp_path / "run"
    t = Trainer(tiny_config(preset="dcgan-28-cond", steps=2, out=str(out)), log=quiet)
    seen = []
    t.G.register_forward_hook(lambda m, args, res: seen.append(args[1].clone()))
    t.train()
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["conditional"] is True and cfg["num_classes"] == 10
    assert cfg["class_names"] == [str(i) for i in range(10)]
    with safe_open(str(out / "checkpoints" / "last.safetensors"), "pt") as f:
        meta = json.loads(f.metadata()["meta"])
    assert meta["num_classes"] == 10 and meta["class_names"][7] == "7"
    # G is asked for every class, drawn per step (not one fixed class)
    assert all(len(y) == 16 and 0 <= int(y.min()) and int(y.max()) < 10 for y in seen) and len(seen) >= 4
    assert len(torch.cat(seen).unique()) > 3
    # the fixed grid: 10 rows (one per class) of grid_size images, the same noise down each column
    assert torch.equal(t.fixed_y, torch.arange(10).repeat_interleave(5))
    assert torch.equal(t.fixed_z[:5], t.fixed_z[5:10])
    assert Image.open(out / "final_grid.png").size == (5 * 28 + 6 * 2, 10 * 28 + 11 * 2)
    run = load_run(out)
    assert run.num_classes == 10 and run.class_names[3] == "3"


def test_conditional_run_without_labels_is_refused(tmp_path):
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(4):
        Image.new("L", (28, 28), color=i * 40).save(folder / f"{i}.png")
    with pytest.raises(GanforgeError, match="needs class labels"):
        Trainer(tiny_config(preset="dcgan-28-cond", dataset=f"folder:{folder}", batch_size=2, steps=1,
                            out=str(tmp_path / "run")), log=quiet)


def test_folder_sub_folders_are_the_classes_of_a_conditional_run(tmp_path):
    from PIL import Image

    for name in ("cats", "dogs", "owls"):
        (tmp_path / "imgs" / name).mkdir(parents=True)
        for i in range(3):
            Image.new("L", (28, 28), color=i * 40).save(tmp_path / "imgs" / name / f"{i}.png")
    out = tmp_path / "run"
    Trainer(tiny_config(preset="dcgan-28-cond", dataset=f"folder:{tmp_path / 'imgs'}", batch_size=3, steps=1,
                        out=str(out)), log=quiet).train()
    run = load_run(out)
    assert run.num_classes == 3 and run.class_names == ["cats", "dogs", "owls"]
    assert run.class_index("owls") == 2 and run.class_index("1") == 1
    with pytest.raises(GanforgeError, match="unknown class 'emus'.*cats, dogs, owls"):
        run.class_index("emus")


def test_run_generate_with_labels(tmp_path):
    out = tmp_path / "run"
    Trainer(tiny_config(preset="dcgan-28-cond", steps=1, out=str(out)), log=quiet).train()
    run = load_run(out)
    seen = []
    run.generator.register_forward_hook(lambda m, args, res: seen.append(args[1].clone()))
    a = run.generate(6, seed=1, labels=torch.tensor([7] * 6))
    assert torch.equal(seen[-1], torch.tensor([7] * 6))
    assert torch.equal(a, run.generate(6, seed=1, labels=torch.tensor([7] * 6)))
    b = run.generate(6, seed=1)  # classes drawn from the seed: deterministic
    assert torch.equal(seen[-1], run.random_labels(6, seed=1)) and torch.equal(b, run.generate(6, seed=1))
    for bad in (torch.tensor([10] * 6), torch.tensor([1] * 5), torch.tensor([1.0] * 6)):
        with pytest.raises(GanforgeError, match="labels must"):
            run.generate(6, labels=bad)


def test_unconditional_run_refuses_labels(tmp_path):
    out = tmp_path / "run"
    Trainer(tiny_config(steps=1, out=str(out)), log=quiet).train()
    run = load_run(out)
    assert run.num_classes is None and run.class_names is None
    with pytest.raises(GanforgeError, match="unconditional"):
        run.generate(2, labels=torch.tensor([1, 2]))


def test_resume_keeps_the_runs_settings_when_a_preset_default_changes_later(tmp_path, monkeypatch):
    import json

    from ganforge.presets import PRESETS

    out = tmp_path / "run"
    Trainer(TrainConfig(preset="dcgan-28-fast", batch_size=8, steps=2, extra={"width": 4}, **TINY, out=str(out)),
            log=lambda *a: None).train()
    assert json.loads((out / "config.json").read_text())["r1_gamma"] == 0.0
    # A later version gives the preset R1 by default: the run goes on without it, as it was trained;
    # a new run gets it.
    monkeypatch.setitem(PRESETS["dcgan-28-fast"].defaults, "r1_gamma", 0.5)
    assert Trainer.resume(out, steps=4, log=lambda *a: None).cfg.r1_gamma == 0.0
    assert resolved(preset="dcgan-28-fast").r1_gamma == 0.5
