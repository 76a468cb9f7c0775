"""Class conditioning: conditional BatchNorm uses the class, the projection head follows its formula,
and the conditional small DCGAN keeps the unconditional one unchanged."""

import pytest
import torch
from torch import nn

from ganforge.models.conditional import (
    ConditionalBatchNorm1d,
    ConditionalBatchNorm2d,
    ProjectionHead,
    call,
    conditional_sequential,
)
from ganforge.models.dcgan import SmallDCGANDiscriminator, SmallDCGANGenerator
from ganforge.presets import build_models
from ganforge.resolve import DataFacts
from helpers import resolved


def test_conditional_bn_uses_the_class_and_trains_its_embeddings():
    torch.manual_seed(0)
    bn = ConditionalBatchNorm2d(3, num_classes=4)
    # A fresh conditional BN is a plain BN: gain 1, bias 0 for every class.
    x = torch.randn(8, 3, 5, 5)
    plain = nn.BatchNorm2d(3)
    torch.testing.assert_close(bn(x, torch.zeros(8, dtype=torch.long)), plain(x))
    with torch.no_grad():
        bn.gain.weight[1] = torch.tensor([2.0, 3.0, 4.0])
        bn.bias.weight[1] = torch.tensor([1.0, -1.0, 0.5])
    y0, y1 = torch.zeros(8, dtype=torch.long), torch.ones(8, dtype=torch.long)
    a, b = bn(x, y0), bn(x, y1)
    assert not torch.allclose(a, b)
    # class 1: gain * normalised + bias, channel by channel
    torch.testing.assert_close(b, a * torch.tensor([2.0, 3.0, 4.0]).view(1, 3, 1, 1)
                               + torch.tensor([1.0, -1.0, 0.5]).view(1, 3, 1, 1))
    # gradients reach the rows of the classes used, and only those
    bn(x, torch.tensor([2, 2, 2, 2, 3, 3, 3, 3])).pow(2).sum().backward()
    assert bn.gain.weight.grad[2].abs().sum() > 0 and bn.bias.weight.grad[3].abs().sum() > 0
    assert bn.gain.weight.grad[0].abs().sum() == 0


def test_conditional_bn_keeps_running_statistics_and_needs_labels():
    bn = ConditionalBatchNorm1d(4, num_classes=2, momentum=0.5)
    x = torch.randn(16, 4) * 3 + 2
    bn(x, torch.zeros(16, dtype=torch.long))
    torch.testing.assert_close(bn.running_mean, 0.5 * x.mean(0))
    bn.eval()
    with pytest.raises(ValueError, match="class labels"):
        bn(x)


def test_projection_head_is_psi_plus_embedding_dot_features():
    torch.manual_seed(0)
    head = ProjectionHead(6, num_classes=3)
    h = torch.randn(5, 6)
    y = torch.tensor([0, 1, 2, 1, 0])
    psi = head.linear(h).squeeze(1)
    expected = psi + (head.embed.weight[y] * h).sum(1)
    torch.testing.assert_close(head(h, y), expected)
    # Known answer: changing the class moves the logit by <embed(y') - embed(y), h>.
    with torch.no_grad():
        head.embed.weight.copy_(torch.eye(3, 6))
    h = torch.arange(6.0).view(1, 6)
    logits = [head(h, torch.tensor([c])).item() for c in range(3)]
    assert logits[1] - logits[0] == pytest.approx(1.0) and logits[2] - logits[0] == pytest.approx(2.0)


def test_conditional_sequential_swaps_batchnorms_and_keeps_the_names():
    net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8, eps=1e-3, momentum=0.01), nn.ReLU())
    cond = conditional_sequential(net, 5)
    assert isinstance(cond[1], ConditionalBatchNorm1d) and cond[1].eps == 1e-3 and cond[1].momentum == 0.01
    assert "0.weight" in cond.state_dict() and "1.gain.weight" in cond.state_dict()
    assert cond(torch.randn(3, 4), torch.tensor([0, 1, 4])).shape == (3, 8)


def params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_small_dcgan_unconditional_is_unchanged_and_conditional_adds_embeddings():
    g, d = SmallDCGANGenerator(64, width=32), SmallDCGANDiscriminator(width=32)
    assert (params(g), params(d)) == (240_321, 36_513) and g.num_classes is None
    gc, dc = SmallDCGANGenerator(64, width=32, num_classes=10), SmallDCGANDiscriminator(width=32, num_classes=10)
    # G: each BN's 2 x C affine parameters become 2 x C per class; D: one C-long embedding per class.
    assert params(gc) - params(g) == 9 * 2 * (3136 + 32)
    assert params(dc) - params(d) == 10 * 3136
    z, y = torch.randn(4, 64), torch.tensor([0, 3, 7, 9])
    x = gc(z, y)
    assert x.shape == (4, 1, 28, 28) and dc(x, y).shape == (4,)
    with pytest.raises(ValueError, match="unconditional"):
        g(z, y)
    with pytest.raises(ValueError, match="class labels"):
        dc(x)


def test_the_class_changes_the_output_of_g_and_d():
    torch.manual_seed(0)
    g, d = SmallDCGANGenerator(8, width=4, num_classes=3), SmallDCGANDiscriminator(width=4, num_classes=3)
    with torch.no_grad():  # break the "fresh conditional BN is a plain BN" symmetry
        for m in g.modules():
            if isinstance(m, (ConditionalBatchNorm1d, ConditionalBatchNorm2d)):
                m.gain.weight.normal_(1, 0.5)
    g.eval()
    z = torch.randn(2, 8)
    assert not torch.allclose(g(z, torch.tensor([0, 0])), g(z, torch.tensor([1, 1])))
    x = torch.randn(2, 1, 28, 28)
    assert not torch.allclose(d(x, torch.tensor([0, 0])), d(x, torch.tensor([2, 2])))
    assert torch.equal(call(g, z, torch.tensor([1, 1])), g(z, torch.tensor([1, 1])))


def test_presets_build_conditional_models_from_the_config():
    cfg = resolved(preset="dcgan-28-cond")
    assert cfg.conditional is True and cfg.extra["width"] == 32 and cfg.num_classes == 10
    g, d = build_models(cfg)
    assert g.num_classes == 10 and d.num_classes == 10
    three = DataFacts("folder:/x", 100, 3, ["a", "b", "c"])
    g, _ = build_models(resolved(preset="dcgan-28-fast", conditional=True, facts=three))
    assert g.num_classes == 3


@pytest.mark.parametrize("kw,needle", [
    ({"preset": "dcgan-28-cond", "facts": DataFacts("folder:/x", 100, None, None)}, "needs class labels"),
    ({"preset": "mlp-adam", "conditional": True}, "no class-conditional version"),
])
def test_conditional_configs_that_cannot_build_are_refused(kw, needle):
    from ganforge import GanforgeError

    with pytest.raises(GanforgeError, match=needle):
        build_models(resolved(**kw))


def test_resnet_conditional_keeps_the_unconditional_model_and_uses_the_class():
    from ganforge.models.resnet import ResNetDiscriminator, ResNetGenerator

    torch.manual_seed(0)
    g, d = ResNetGenerator(8, 1, 28, width=4), ResNetDiscriminator(1, 28, width=4)
    gc, dc = ResNetGenerator(8, 1, 28, width=4, num_classes=3), ResNetDiscriminator(1, 28, width=4, num_classes=3)
    assert set(d.state_dict()) < set(dc.state_dict())  # the same layers, plus the class embedding
    assert params(dc) - params(d) == 3 * 8  # one 2w-long embedding per class
    assert params(gc) > params(g) and g.num_classes is None and gc.num_classes == 3
    with torch.no_grad():
        for m in gc.modules():
            if isinstance(m, ConditionalBatchNorm2d):
                m.gain.weight.normal_(1, 0.5)
    gc.eval()
    z = torch.randn(2, 8)
    a, b = gc(z, torch.tensor([0, 0])), gc(z, torch.tensor([2, 2]))
    assert a.shape == (2, 1, 28, 28) and not torch.allclose(a, b)
    h = torch.nn.functional.relu(dc.blocks(a)).sum(dim=(2, 3))
    torch.testing.assert_close(dc(a, torch.tensor([1, 2])) - dc(a, torch.tensor([0, 0])),
                               ((dc.embed.weight[[1, 2]] - dc.embed.weight[0]) * h).sum(1))
    with pytest.raises(ValueError):
        dc(a)
    with pytest.raises(ValueError):
        g(z, torch.tensor([0, 0]))
    cfg = resolved(preset="resnet-28-mnist", conditional=True, extra={"width": 4})
    gp, dp = build_models(cfg)
    assert gp.num_classes == 10 and dp.num_classes == 10
