"""accel's public surface: plans for a setting and a device, switching tricks into models and out again
with their state untouched, and every preset computing the same with the tricks as without."""

import copy

import pytest
import torch
from torch import nn

from ganforge import RunConfig, TrainConfig, Trainer, accel
from ganforge.errors import GanforgeError
from ganforge.models.conditional import call, num_classes_of
from ganforge.presets import PRESETS, build_models, get_preset
from helpers import resolved

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def config(name: str, **overrides) -> RunConfig:
    """A preset's resolved config at a small width (conditional presets with MNIST's 10 classes)."""
    extra = {"width": 4} if "width" in get_preset(name).defaults.get("extra", {}) else {}
    return resolved(preset=name, extra=extra, **overrides)


def models(name: str, **overrides) -> tuple[nn.Module, nn.Module]:
    """A preset's G and D at a small width, as a run builds them (its init, spectral norm and so on)."""
    torch.manual_seed(0)
    return build_models(config(name, **overrides))


def test_plans_for_settings_and_devices(monkeypatch):
    monkeypatch.delenv(accel.ENV, raising=False)
    assert accel.plan("off", CPU) == accel.AccelPlan() and accel.plan("off", CPU).names() == ()
    listed = accel.plan("fourier, col2im", CPU)
    assert listed.names() == ("fourier", "col2im") and not listed.shared_backward
    auto = accel.plan("auto", CPU)
    capability = torch.backends.cpu.get_cpu_capability()
    assert auto.names() == tuple(t for t in accel.TRICKS if accel.POLICY[t](CPU, capability))
    # Every trick is CPU-only: on a GPU, "auto" and a list alike give none.
    assert accel.plan("auto", CUDA) == accel.plan("fourier,allocator", "cuda") == accel.AccelPlan()
    assert set(accel.POLICY) == set(accel.TRICKS) == {f for f in accel.AccelPlan.__dataclass_fields__}


def test_the_environment_turns_every_trick_off(monkeypatch):
    monkeypatch.setenv(accel.ENV, "off")
    assert accel.plan("auto", CPU) == accel.plan(",".join(accel.TRICKS), CPU) == accel.AccelPlan()
    monkeypatch.setenv(accel.ENV, "on")
    with pytest.raises(GanforgeError, match=accel.ENV) as e:
        accel.plan("auto", CPU)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("value", ["fast", "", "fourier,", "auto,fourier", "Off", None, 3, ["fourier"]])
def test_bad_settings_are_one_line_errors(value):
    with pytest.raises(GanforgeError) as e:
        accel.check_setting(value)
    message = str(e.value)
    assert "\n" not in message and repr(value) in message and "auto, off or a comma list of fourier" in message
    if isinstance(value, str):
        with pytest.raises(GanforgeError, match="accel must be"):
            resolved(accel=value)


def test_off_leaves_every_layer_plain_even_after_auto():
    g, d = models("dcgan-28")
    plain = {name: type(m) for name, m in [*g.named_modules(), *d.named_modules()]}
    accel.apply(accel.plan(",".join(accel.TRICKS[:3]), CPU), g, d)
    assert accel.tricks_of(g) and accel.tricks_of(d)
    accel.apply(accel.plan("off", CPU), g, d)
    assert {name: type(m) for name, m in [*g.named_modules(), *d.named_modules()]} == plain


def test_apply_is_idempotent_and_remove_gives_the_plain_classes_back():
    g, d = models("dcgan-28")
    plain = [type(m) for m in [*g.modules(), *d.modules()]]
    p = accel.plan("fourier,col2im,fast_dropout", CPU)
    accel.apply(p, g, d)
    once = [type(m) for m in [*g.modules(), *d.modules()]]
    accel.apply(p, g, d)
    assert [type(m) for m in [*g.modules(), *d.modules()]] == once
    assert accel.tricks_of(g) == {"net.4": ("fourier",), "net.10": ("col2im",)}
    assert accel.tricks_of(d) == {"net.0": ("col2im",), "net.2": ("fast_dropout",), "net.5": ("fast_dropout",)}
    accel.apply(accel.plan("col2im", CPU), g, d)  # another plan replaces the first
    assert accel.tricks_of(g) == {"net.10": ("col2im",)} and accel.tricks_of(d) == {"net.0": ("col2im",)}
    twin = copy.deepcopy(g)  # as the trainer's EMA copy: the accelerated class comes along
    assert type(twin.net[10]) is type(g.net[10])
    accel.remove(g, d)
    assert [type(m) for m in [*g.modules(), *d.modules()]] == plain


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_apply_leaves_the_state_dict_alone(name):
    for model in models(name):
        before = {k: v.clone() for k, v in model.state_dict().items()}
        accel.apply(accel.plan(",".join(accel.TRICKS[:3]), CPU), model)
        after = model.state_dict()
        assert list(after) == list(before)
        assert all(torch.equal(after[k], v) for k, v in before.items())


def _outputs_and_gradients(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None) -> list[torch.Tensor]:
    torch.manual_seed(1)  # the same dropout masks for both
    x = x.clone().requires_grad_(x.is_floating_point())
    out = call(model, x, y)
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(out, [x, *params] if x.requires_grad else params, torch.ones_like(out) + out.detach())
    return [out, *grads]


@pytest.mark.parametrize("name", sorted(PRESETS) + ["resnet-28-mnist+sn-gd"])
def test_every_preset_computes_the_same_with_the_tricks(name):
    name, _, sn = name.partition("+sn-")
    overrides = {"spectral_norm": sn} if sn else {}
    g, d = models(name, **overrides)
    batch = 8  # enough images for the Fourier route to pay in dcgan-28's first layer
    z = torch.randn(batch, config(name, **overrides).z_dim)
    images = torch.rand(batch, *get_preset(name).image_shape) * 2 - 1
    labels = torch.arange(batch) % 10 if num_classes_of(g) else None
    for model, x in ((g, z), (d, images)):
        model.train()
        plain = copy.deepcopy(model)  # the same weights, BatchNorm statistics and spectral-norm vectors
        accel.apply(accel.plan(",".join(accel.TRICKS[:3]), CPU), model)
        got, want = _outputs_and_gradients(model, x, labels), _outputs_and_gradients(plain, x, labels)
        torch.testing.assert_close(got[0], want[0], rtol=1e-4, atol=1e-5)  # the output
        # Gradients: each within 1e-4 of its own norm in norm, or, for one that is rounding noise around zero
        # (a convolution's bias before BatchNorm), within 1e-7 of the whole gradient's norm.
        whole = torch.cat([t.flatten() for t in want[1:]]).norm()
        for a, b in zip(got[1:], want[1:]):
            assert (a - b).norm() <= 1e-4 * max(b.norm(), 1e-3 * whole), (name, tuple(a.shape))
    if any(isinstance(m, nn.Conv2d) for m in d.modules()):
        assert accel.tricks_of(d)  # the tricks were in play: every conv D reads 1 or 3 channels


def test_the_trainer_plans_once_from_its_config(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(accel, "keep_freed_memory", lambda: calls.append(1) or True)
    base = dict(preset="dcgan-28-fast", dataset="mnist-sample", batch_size=8, steps=1, progress=False,
                extra={"width": 4})
    off = Trainer(TrainConfig(**base, accel="off", out=str(tmp_path / "off")), log=lambda *a: None)
    assert off.accel == accel.AccelPlan() and not accel.tricks_of(off.G) and not accel.tricks_of(off.D)
    assert calls == []
    listed = Trainer(TrainConfig(**base, accel="col2im,allocator", out=str(tmp_path / "l")), log=lambda *a: None)
    assert listed.accel.names() == ("col2im", "allocator") and calls == [1]
    # At width 4 G's two transposed convolutions are narrow (8 -> 4 -> 1 channels), and so are D's two convolutions
    # (1 -> 4 -> 8) in a model that reads images.
    assert accel.tricks_of(listed.G) == {"net.4": ("col2im",), "net.7": ("col2im",)}
    assert accel.tricks_of(listed.D) == {"net.0": ("col2im",), "net.2": ("col2im",)}
    auto = Trainer(TrainConfig(**base, out=str(tmp_path / "a")), log=lambda *a: None)
    assert auto.accel == accel.plan("auto", CPU)
