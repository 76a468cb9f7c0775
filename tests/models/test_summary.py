"""Keras-style summaries: the tutorial presets' totals are the ones Keras prints for the originals, the text
and dict forms say the same, and summarising changes nothing in the model."""

import re

import pytest
import torch
from torch import nn

from ganforge.models.summary import count_parameters, readable_size, summarize
from ganforge.presets import summarize_preset
from helpers import resolved

# Keras model.summary() of the originals: (total, trainable, non-trainable) for G, then D. Keras counts
# BatchNormalization's moving mean and variance as non-trainable parameters.
KERAS = {
    "dcgan-28": ((2_330_944, 2_305_472, 25_472), (212_865, 212_865, 0)),
    "mlp-sgd": ((1_493_520, 1_489_936, 3_584), (533_505, 533_505, 0)),
    "mlp-adam": ((1_486_352, 1_486_352, 0), (1_460_225, 1_460_225, 0)),
    # The 64x64 tutorial's BatchNormalization(256) and (128), in G and in D: 2 x (256 + 128) = 768 moving
    # means and variances on each side.
    "dcgan-64-rgb": ((2_471_555 + 768, 2_471_555, 768), (1_030_273 + 768, 1_030_273, 768)),
    "dcgan-64-rgb-fixed": ((2_471_555 + 768, 2_471_555, 768), (1_030_273 + 768, 1_030_273, 768)),
}
ROW = re.compile(r"^ (\S+ \([^)]*\))\s+(\(.*?\)|\[.*\]|\?)\s+([\d,]+)$")


def totals(s):
    return s.total, s.trainable, s.non_trainable


@pytest.mark.parametrize("name", list(KERAS))
def test_tutorial_presets_total_what_keras_prints(name):
    g, d = summarize_preset(resolved(preset=name))
    assert (totals(g), totals(d)) == KERAS[name]
    for s in (g, d):
        assert sum(r.params for r in s.rows) == s.total  # the rows add up to the total, as in Keras


def test_dcgan_28_generator_reads_like_keras():
    g, _ = summarize_preset(resolved(preset="dcgan-28"))
    text = g.to_text()
    lines = text.splitlines()
    assert lines[0] == 'Model: "generator"'
    assert set(lines[1]) == {"_"} and lines[2].split() == ["Layer", "(type)", "Output", "Shape", "Param", "#"]
    assert "Total params: 2,330,944 (8.89 MB)" in lines
    assert "Trainable params: 2,305,472 (8.79 MB)" in lines
    assert "Non-trainable params: 25,472 (99.50 KB)" in lines
    # The tutorial's layers, channels first: Dense 7*7*256 -> BN -> ReLU -> reshape -> three transposed convs.
    shapes = [r.shape_text for r in g.rows if r.kind in ("Linear", "Reshape", "ConvTranspose2d")]
    assert shapes == ["(None, 12544)", "(None, 256, 7, 7)", "(None, 128, 7, 7)", "(None, 64, 14, 14)",
                      "(None, 1, 28, 28)"]
    assert [r.params for r in g.rows if r.kind == "ConvTranspose2d"] == [819_200, 204_800, 1_600]
    assert max(map(len, lines)) <= 100


def _parsed(text):
    rows = [m.groups() for m in map(ROW.match, text.splitlines()) if m]
    numbers = {k: int(v.replace(",", "")) for k, v in re.findall(r"^(\S[\w-]*) params: ([\d,]+)", text, re.M)}
    return rows, numbers


@pytest.mark.parametrize("name", ["dcgan-28-cond", "resnet-28-mnist", "mlp-sgd"])
def test_text_and_dict_forms_agree(name):
    for s in summarize_preset(resolved(preset=name)):
        data = s.to_dict()
        rows, numbers = _parsed(s.to_text())
        assert rows == [(f"{r['name']} ({r['type']})", s.rows[i].shape_text, f"{r['total']:,}")
                        for i, r in enumerate(data["rows"])]
        assert numbers == {"Total": data["total"], "Trainable": data["trainable"],
                           "Non-trainable": data["non_trainable"]}
        assert data["total"] == data["trainable"] + data["non_trainable"] == sum(r["total"] for r in data["rows"])
        assert all(r["output_shape"] is None or r["output_shape"][0] is None for r in data["rows"])  # batch: null


def test_a_conditional_preset_is_summarised_with_its_labels():
    g, d = summarize_preset(resolved(preset="dcgan-28-cond"))
    kinds = [r.kind for r in g.rows]
    assert kinds.count("ConditionalBatchNorm1d") == kinds.count("ConditionalBatchNorm2d") == 1
    cbn = next(r for r in g.rows if r.kind == "ConditionalBatchNorm1d")
    assert cbn.shape_text == "(None, 3136)" and cbn.counts.non_trainable == 2 * 3136  # its moving statistics
    assert [r.name for r in g.rows if r.kind == "Embedding"] == ["net.1.gain", "net.1.bias", "net.5.gain", "net.5.bias"]
    assert g.rows[-2].shape_text == "(None, 1, 28, 28)"
    assert (g.trainable, g.non_trainable) == (297_345, 2 * (3136 + 32))
    assert d.rows[-1].name == "head.embed" and d.trainable == 67_873


def test_spectral_norm_vectors_are_non_trainable_state():
    _, d = summarize_preset(resolved(preset="resnet-28-mnist"))  # spectral norm on D
    built = d.rows[0]
    assert built.kind == "Conv2d, SN"
    # u has the layer's outputs, v its inputs (fan-in): both saved, neither trained.
    conv1 = 32 + 1 * 3 * 3
    assert built.counts.non_trainable == conv1 and built.counts.trainable == 32 * 1 * 3 * 3 + 32
    assert d.trainable == 141_089  # as without spectral norm


def test_counts_leave_out_integer_state():
    bn = nn.BatchNorm2d(4)  # weight, bias; running mean, var; num_batches_tracked (an integer)
    c = count_parameters(bn)
    assert (c.trainable, c.non_trainable) == (8, 8)
    frozen = nn.Linear(3, 2)
    frozen.bias.requires_grad_(False)
    assert (count_parameters(frozen).trainable, count_parameters(frozen).non_trainable) == (6, 2)


def test_summarising_changes_nothing():
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Dropout(0.5), nn.Linear(4, 1))
    net.train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.randn(5, 3)
    rng = torch.get_rng_state()
    s = summarize(net, x, name="net")
    assert net.training and all(m.training for m in net.modules())
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # no BatchNorm update
    assert torch.equal(torch.get_rng_state(), rng)  # eval mode: dropout drew nothing
    assert [r.shape_text for r in s.rows] == ["(None, 4)", "(None, 4)", "(None, 4)", "(None, 1)"]


def test_a_layer_the_forward_skips_still_counts():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.spare = nn.Linear(2, 2), nn.Linear(2, 3)

        def forward(self, x):
            return self.used(x)

    s = summarize(Net(), torch.randn(1, 2))
    assert [(r.name, r.shape_text, r.params) for r in s.rows] == [("used", "(None, 2)", 6), ("spare", "?", 9)]
    assert s.total == 15


def test_sizes_read_as_keras_writes_them():
    assert readable_size(2_330_944 * 4) == "8.89 MB"
    assert readable_size(25_472 * 4) == "99.50 KB"
    assert readable_size(0) == "0.00 B"
