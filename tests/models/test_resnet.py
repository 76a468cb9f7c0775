"""ResNet (SNGAN-style) generator and discriminator: shapes for every size and channel count, a
replaceable normalisation layer, residual paths that carry the input."""

import pytest
import torch
from torch import nn

from ganforge.models.resnet import ResNetDiscriminator, ResNetGenerator


@pytest.mark.parametrize("size", [28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes(size, channels):
    g, d = ResNetGenerator(8, channels, size, width=4), ResNetDiscriminator(channels, size, width=4)
    x = g(torch.randn(2, 8))
    assert x.shape == (2, channels, size, size) and x.abs().max() <= 1
    assert d(x).shape == (2,)


def test_width_scales_the_parameter_count():
    def count(m):
        return sum(p.numel() for p in m.parameters())
    assert count(ResNetGenerator(8, 1, 28, width=8)) > 2 * count(ResNetGenerator(8, 1, 28, width=4))
    assert count(ResNetDiscriminator(1, 28, width=8)) > 3 * count(ResNetDiscriminator(1, 28, width=4))


def test_normalisation_is_replaceable():
    g = ResNetGenerator(8, 1, 32, width=4, norm=nn.InstanceNorm2d)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in g.modules())
    assert sum(isinstance(m, nn.InstanceNorm2d) for m in g.modules()) == 2 * 3 + 1  # two per block + final
    assert g(torch.randn(2, 8)).shape == (2, 1, 32, 32)


def test_unsupported_size():
    with pytest.raises(ValueError, match="sizes"):
        ResNetGenerator(8, 1, 48)
