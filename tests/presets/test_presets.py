"""Every preset builds, makes images of its shape, and the tutorial presets have exactly the
trainable parameter counts that Keras reports for the original models."""

import pytest
import torch

from ganforge import PRESETS
from ganforge.presets import build_models, measured_quality
from helpers import resolved

# Keras model.count_params() of trainable weights (BatchNorm moving statistics are non-trainable).
KERAS_TRAINABLE = {
    "mlp-sgd": (1_489_936, 533_505),
    "mlp-adam": (1_486_352, 1_460_225),
    "dcgan-28": (2_305_472, 212_865),
    "dcgan-64-rgb": (2_471_555, 1_030_273),
    "dcgan-64-rgb-fixed": (2_471_555, 1_030_273),
}


def trainable(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters() if p.requires_grad)


@pytest.mark.parametrize("name", list(KERAS_TRAINABLE))
def test_tutorial_presets_match_keras_parameter_counts(name):
    g, d = build_models(resolved(preset=name))
    assert (trainable(g), trainable(d)) == KERAS_TRAINABLE[name]


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_shapes(name):
    cfg = resolved(preset=name)  # the class count comes from the data: MNIST's ten classes
    y = torch.tensor([0, 4, 9]) if cfg.conditional else None
    g, d = build_models(cfg)
    g.eval()
    d.eval()
    z = torch.randn(3, cfg.z_dim)
    x = g(z) if y is None else g(z, y)
    assert x.shape == (3, *PRESETS[name].image_shape)
    assert x.min() >= -1 and x.max() <= 1  # tanh output
    assert (d(x) if y is None else d(x, y)).shape == (3,)


def test_latent_size_is_an_option():
    cfg = resolved(preset="dcgan-28", z_dim=32)
    g, _ = build_models(cfg)
    assert g(torch.randn(2, 32)).shape == (2, 1, 28, 28)


def test_faithful_64_generator_has_no_activation_after_batchnorm_and_fixed_one_does():
    def acts_after_bn(name):
        g, _ = build_models(resolved(preset=name))
        mods = list(g.net)
        return [type(mods[i + 1]).__name__ for i, m in enumerate(mods[:-1])
                if isinstance(m, torch.nn.BatchNorm2d)]

    assert acts_after_bn("dcgan-64-rgb") == ["ConvTranspose2d", "ConvTranspose2d"]
    assert acts_after_bn("dcgan-64-rgb-fixed") == ["LeakyReLU", "LeakyReLU"]


def test_keras_init_is_glorot_uniform_with_zero_bias():
    g, d = build_models(resolved(preset="mlp-adam"))
    lin = d.net[1]
    limit = (6 / (lin.in_features + lin.out_features)) ** 0.5
    assert lin.weight.abs().max() <= limit
    assert lin.weight.abs().max() > 0.9 * limit  # uniform over the whole range, not PyTorch's default
    assert torch.count_nonzero(lin.bias) == 0


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_states_its_measured_quality_and_budget(name):
    # `ganforge presets` gives each preset's measured quality, with the budget it took.
    quality = measured_quality()[name]["summary"]
    assert "FID" in quality or "modes" in quality, quality
    assert "steps" in quality and ("core" in quality or "GPU" in quality), quality
