"""g_noise: G's step on fresh noise, or on the D step's noise (the Keras MLP-Adam loop), and the shared
G forward that the reuse allows when recomputing it would give the same numbers."""

import pytest
import torch

from ganforge import GanforgeError, TrainConfig, Trainer
from helpers import resolved

TINY = {"dataset": "mnist-sample", "log_every": 2, "progress": False, "batch_size": 8}


def _trainer(tmp_path, name, **kw) -> Trainer:
    return Trainer(TrainConfig(**{**TINY, **kw}, steps=10, out=str(tmp_path / name)), log=lambda *a: None)


def _spy_g(t: Trainer) -> list[torch.Tensor]:
    """Record the noise of every G call of the training step."""
    seen: list[torch.Tensor] = []
    g = t.gan.G_run

    def spy(z, *args, **kw):
        seen.append(z.detach().clone())
        return g(z, *args, **kw)

    t.gan.G_run = spy
    return seen


def _state(t: Trainer) -> dict[str, torch.Tensor]:
    return {**{f"G.{k}": v for k, v in t.G.state_dict().items()}, **{f"D.{k}": v for k, v in t.D.state_dict().items()}}


def test_mlp_adam_reuses_the_noise_as_its_tutorial_and_mlp_sgd_does_not():
    # keras_mlp_adam: GAN.train_on_batch(noise, ...) after generator.predict(noise); keras_mlp_sgd draws anew
    assert resolved(preset="mlp-adam").g_noise == "reuse"
    assert resolved(preset="mlp-sgd").g_noise == "fresh"


@pytest.mark.parametrize("g_noise", ["fresh", "reuse"])
def test_g_step_noise_is_fresh_or_the_d_steps(tmp_path, g_noise):
    # dcgan-28-fast's G has BatchNorm, so G runs twice per step even when the noise is reused
    t = _trainer(tmp_path, g_noise, preset="dcgan-28-fast", extra={"width": 4}, g_noise=g_noise)
    assert not t.gan.g_forward_shareable()
    seen = _spy_g(t)
    t.train_step()
    assert len(seen) == 2
    assert torch.equal(seen[0], seen[1]) == (g_noise == "reuse")


def test_reuse_shares_the_forward_of_a_mode_free_generator(tmp_path):
    t = _trainer(tmp_path, "run", preset="mlp-adam")
    assert t.gan.g_forward_shareable()  # Dense + LeakyReLU + tanh: no BatchNorm, no dropout, no buffers
    seen = _spy_g(t)
    t.train_step()
    assert len(seen) == 1  # one G forward per step serves D's fakes and G's update


def _three_steps(t: Trainer) -> dict[str, torch.Tensor]:
    for _ in range(3):
        t.train_step()
        t.step += 1
    return _state(t)


def test_shared_forward_trains_exactly_as_a_recomputed_one(tmp_path):
    # One trainer after the other: D's dropout draws from the global RNG, which each Trainer seeds.
    a = _three_steps(_trainer(tmp_path, "shared", preset="mlp-adam"))
    again = _trainer(tmp_path, "again", preset="mlp-adam")
    again.gan._g_shareable = False  # recompute G's forward on the same noise in the G step
    b = _three_steps(again)
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6, msg=k)
    # and the reuse is a different training from fresh noise
    fresh = _three_steps(_trainer(tmp_path, "fresh", preset="mlp-adam", g_noise="fresh"))
    assert not torch.allclose(fresh["G.net.0.weight"], a["G.net.0.weight"])


def test_bad_g_noise_is_refused_naming_the_value():
    with pytest.raises(GanforgeError, match="g_noise must be one of fresh, reuse, same; got .twice."):
        TrainConfig.from_dict({"g_noise": "twice"})


def test_a_run_from_before_g_noise_resumes_with_the_fresh_noise_it_trained_with(tmp_path):
    import json

    Trainer(TrainConfig(**TINY, preset="mlp-adam", steps=2, checkpoint_every=2, out=str(tmp_path / "old")),
            log=lambda *a: None).train()
    config = tmp_path / "old" / "config.json"
    data = json.loads(config.read_text())
    assert data["g_noise"] == "reuse"  # a run of this version records the preset's default
    assert Trainer.resume(tmp_path / "old", steps=3, log=lambda *a: None).cfg.g_noise == "reuse"
    del data["g_noise"], data["config_version"]  # as a version without the field wrote it
    config.write_text(json.dumps(data))
    assert Trainer.resume(tmp_path / "old", steps=3, log=lambda *a: None).cfg.g_noise == "fresh"


def test_same_trains_g_on_the_d_steps_very_fakes_with_one_forward(tmp_path):
    # PyTorch's DCGAN example: fake = netG(noise); D on fake.detach(); G on netD(fake): one G forward per step,
    # so G's BatchNorm statistics move once, where "reuse" runs G again on the same noise.
    t = _trainer(tmp_path, "same", preset="dcgan-28-fast", extra={"width": 4}, g_noise="same")
    assert t.gan.g_forward_shareable()
    seen = _spy_g(t)
    t.train_step()
    assert len(seen) == 1
    again = _trainer(tmp_path, "reuse", preset="dcgan-28-fast", extra={"width": 4}, g_noise="reuse")
    seen = _spy_g(again)
    again.train_step()
    assert len(seen) == 2
