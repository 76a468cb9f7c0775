"""ganforge export: the ONNX file runs in onnxruntime and the TorchScript file in torch.jit, both giving
PyTorch's images, at any batch size."""

import json
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from ganforge import GanforgeError, TrainConfig, load_run
from ganforge.cli import main
from ganforge.export import export_onnx, export_run, export_torchscript
from ganforge.training import build_models


def _onnx_matches(path, generator, z_dim, num_classes=None):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    assert names == (["z"] if num_classes is None else ["z", "y"])
    for n in (1, 7):
        z = torch.randn(n, z_dim, generator=torch.Generator().manual_seed(n))
        feed = {"z": z.numpy()}
        with torch.no_grad():
            if num_classes is None:
                want = generator(z)
            else:
                y = torch.arange(n) % num_classes
                feed["y"] = y.numpy()
                want = generator(z, y)
        [got] = session.run(["images"], feed)
        assert got.shape == tuple(want.shape) and got.dtype == np.float32
        np.testing.assert_allclose(got, want.numpy(), atol=1e-5, rtol=0)


def test_onnx_export_of_a_run_runs_in_onnxruntime(tiny_run, tmp_path):
    out = export_run(tiny_run, "onnx", tmp_path / "g.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.onnx"]  # one file: no external weights, no temp
    run = load_run(tiny_run, device="cpu")
    _onnx_matches(out, run.generator, run.z_dim)
    meta = {p.key: json.loads(p.value) for p in onnx.load(str(out)).metadata_props}
    assert meta["z_dim"] == 64 and meta["image_shape"] == [1, 28, 28] and meta["num_classes"] is None


def test_keras_padding_and_conditional_generators_export(tmp_path):
    # dcgan-28 crops its transposed convolutions asymmetrically (Keras 'same'); the conditional
    # generator looks up BatchNorm gains per class.
    for name, cfg in [("keras", TrainConfig(preset="dcgan-28", z_dim=8)),
                      ("cond", TrainConfig(preset="dcgan-28-fast", conditional=True,
                                           extra={"width": 8, "num_classes": 10}))]:
        torch.manual_seed(0)
        g = build_models(cfg.resolved())[0].eval()
        k = getattr(g, "num_classes", None)
        assert (k is None) == (name == "keras")
        _onnx_matches(export_onnx(g, cfg.resolved().z_dim, tmp_path / f"{name}.onnx"), g, cfg.resolved().z_dim, k)


def test_torchscript_export_loads_with_torch_jit(tiny_run, tmp_path):
    run = load_run(tiny_run, device="cpu")
    path = export_torchscript(run.generator, run.z_dim, tmp_path / "g.pt")
    with pytest.warns(FutureWarning):  # torch.jit.load is deprecated upstream; it still loads
        loaded = torch.jit.load(str(path))
    for n in (1, 7):
        z = torch.randn(n, run.z_dim)
        with torch.no_grad():
            assert torch.allclose(loaded(z), run.generator(z), atol=1e-6)


def test_export_cli_and_errors(tiny_run, tmp_path, capsys, monkeypatch):
    assert main(["export", str(tiny_run), "--format", "torchscript", "--out", str(tmp_path / "g.pt")]) == 0
    assert (tmp_path / "g.pt").is_file() and str(tmp_path / "g.pt") in capsys.readouterr().out
    assert main(["export", str(tiny_run), "--format", "onnx", "--checkpoint", "best"]) == 2
    assert "no 'best' checkpoint" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # as if the [export] extra were not installed
    with pytest.raises(GanforgeError, match=r"pip install 'ganforge\[export\]'"):
        export_run(tiny_run, "onnx", tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()
