"""ganforge export: the ONNX file runs in onnxruntime and the TorchScript file in torch.jit, both giving
PyTorch's images, at any batch size."""

import json
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from ganforge import GanforgeError, load_run
from ganforge.cli import main
from ganforge.export import export_onnx, export_run, export_torchscript
from ganforge.models.conditional import ConditionalBatchNorm2d
from ganforge.models.layers import Conv2d, ConvTranspose2d


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


class _KerasConditional(nn.Module):
    """The layers most likely to break an exporter: Keras 'same' padding (a transposed convolution cropped
    one pixel more after than before, a strided convolution padded 1 before and 2 after) and a BatchNorm
    whose gain and bias are looked up per class."""

    def __init__(self, z_dim: int = 8, num_classes: int = 3):
        super().__init__()
        self.num_classes = num_classes
        self.fc = nn.Linear(z_dim, 4 * 7 * 7)
        self.up = ConvTranspose2d(4, 4, 5, 2, "same")  # 7 -> 14
        self.bn = ConditionalBatchNorm2d(4, num_classes)
        self.down = Conv2d(4, 1, 5, 2, "same")  # 14 -> 7
        for t in (self.bn.gain.weight, self.bn.bias.weight, self.bn.running_mean):
            nn.init.normal_(t)

    def forward(self, z, y):
        x = self.up(self.fc(z).view(-1, 4, 7, 7))
        return torch.tanh(self.down(self.bn(x, y)))


def test_keras_padding_and_conditional_layers_export(tmp_path):
    assert ConvTranspose2d(4, 4, 5, 2, "same").crop_after == 1  # the asymmetric case is exercised
    torch.manual_seed(0)
    g = _KerasConditional().eval()
    _onnx_matches(export_onnx(g, 8, tmp_path / "g.onnx"), g, 8, num_classes=3)


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
