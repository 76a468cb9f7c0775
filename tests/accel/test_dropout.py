"""The Keras dropout's uniform numbers on two threads: reproducible from the global seed, uniform, and
the plain layer's own numbers below the size where the threads start."""

import torch
from torch import nn

from ganforge import accel
from ganforge.accel import dropout
from ganforge.models.layers import Dropout
from helpers import assert_dropout_of_p_03

CPU = torch.device("cpu")


def test_parallel_uniform_draws_are_reproducible_and_uniform(monkeypatch):
    # Two threads, two generators seeded from the global RNG: the same global seed gives the same numbers.
    monkeypatch.setattr(dropout, "PARALLEL_RNG_MIN", 1000)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    x = torch.empty(64, 8, 16, 16).contiguous(memory_format=torch.channels_last)
    torch.manual_seed(3)
    a = dropout.uniform_like(x)
    torch.manual_seed(3)
    b = dropout.uniform_like(x)
    assert torch.equal(a, b) and a.shape == x.shape and a.is_contiguous(memory_format=torch.channels_last)
    assert not torch.equal(dropout.uniform_like(x), a)  # the global RNG moved on
    flat = a.as_strided((a.numel(),), (1,))
    halves = flat[: a.numel() // 2], flat[a.numel() // 2:]
    assert not torch.equal(halves[0][:100], halves[1][:100])  # two streams, not one drawn twice
    for h in halves:  # each half uniform on [0, 1): 65,536 draws, mean 0.5 +- 0.0011 (1 sd)
        assert 0 <= h.min() and h.max() < 1 and abs(h.mean().item() - 0.5) < 0.006


def test_small_tensors_get_the_plain_layers_numbers():
    x = torch.randn(16, 64, 14, 14)  # 200,704 numbers: below PARALLEL_RNG_MIN
    plain, fast = Dropout(0.3), Dropout(0.3)
    accel.apply(accel.plan("fast_dropout", CPU), fast)
    assert isinstance(fast, dropout.FastDropout) and isinstance(fast, Dropout)
    torch.manual_seed(1)
    want = plain(x)
    torch.manual_seed(1)
    assert torch.equal(fast(x), want)


def test_fast_dropout_keeps_one_minus_p_scaled_and_backpropagates_the_same_mask(monkeypatch):
    monkeypatch.setattr(dropout, "PARALLEL_RNG_MIN", 1000)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    drop = Dropout(0.3)
    accel.apply(accel.plan("fast_dropout", CPU), drop)
    assert_dropout_of_p_03(drop)


def test_torchs_own_dropout_is_left_alone():
    layer = nn.Dropout(0.3)
    accel.apply(accel.plan("fast_dropout", CPU), layer)
    assert type(layer) is nn.Dropout and not dropout.eligible(layer)
