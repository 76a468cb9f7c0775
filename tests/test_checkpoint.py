"""Checkpoints: round trip, and refusal of files that are not what they claim to be."""

import pickle

import pytest
import torch
from torch import nn

from ganforge import GanforgeError
from ganforge.checkpoint import Checkpoint, save_checkpoint


def model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))


def test_round_trip_modules_optimisers_rng(tmp_path):
    m = model()
    opt = torch.optim.Adam(m.parameters(), lr=1e-3, betas=(0.5, 0.9))
    m(torch.randn(8, 4)).sum().backward()
    opt.step()
    path = tmp_path / "c.safetensors"
    rng_state = torch.get_rng_state()
    save_checkpoint(path, modules={"G": m}, optimizers={"opt": opt}, rng={"torch": rng_state},
                    meta={"step": 7})
    m2 = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    opt2 = torch.optim.Adam(m2.parameters(), lr=0.1)
    ck = Checkpoint(path)
    ck.load_module("G", m2)
    ck.load_optimizer("opt", opt2)
    assert ck.meta["step"] == 7
    for a, b in zip(m.state_dict().values(), m2.state_dict().values()):
        assert torch.equal(a, b)
    s1, s2 = opt.state_dict(), opt2.state_dict()
    assert s2["param_groups"][0]["lr"] == 1e-3 and s2["param_groups"][0]["betas"] == [0.5, 0.9]
    for i in s1["state"]:
        for k in s1["state"][i]:
            assert torch.equal(s1["state"][i][k], s2["state"][i][k])
    assert torch.equal(ck.rng("torch"), rng_state)


def test_truncated_file_is_refused(tmp_path):
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, modules={"G": model()})
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(GanforgeError, match="truncated"):
        Checkpoint(path).load_module("G", model())


def test_pickle_posing_as_checkpoint_is_not_executed(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "c.safetensors"
    path.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(GanforgeError):
        Checkpoint(path)
    assert not marker.exists()


def test_other_shape_is_refused(tmp_path):
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, modules={"G": nn.Linear(4, 3)})
    with pytest.raises(GanforgeError, match="does not fit"):
        Checkpoint(path).load_module("G", nn.Linear(5, 3))


def test_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, modules={"G": model()}, meta={"step": 1})
    before = path.read_bytes()

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("ganforge.checkpoint.save_file", boom)
    with pytest.raises(OSError):
        save_checkpoint(path, modules={"G": model()}, meta={"step": 2})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.safetensors"]
