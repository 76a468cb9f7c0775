"""``ganforge export``: a trained generator as a file that runs without ganforge.

- ``onnx``: an ONNX model (torch.export-based exporter) for onnxruntime and friends. Input ``z``
  (float32, batch x z_dim, standard normal) and, for a class-conditional generator, ``y`` (int64,
  batch, class indices); output ``images`` (float32, batch x C x H x W, in [-1, 1]: map to pixels
  with ``(images + 1) * 127.5``). The batch size is free. The model's metadata holds z_dim,
  image_shape, num_classes and class_names.
- ``torchscript``: the same function traced to TorchScript, for ``torch.jit.load`` (deprecated upstream
  in favour of torch.export, but it still loads in C++ and older PyTorch).
- ``pretrained``: a ``save_pretrained`` folder (see ``ganforge.hub``); it loads with ganforge.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import torch
from torch import nn

from .errors import GanforgeError
from .fileio import atomic_path
from .models.conditional import call, num_classes_of
from .run import Run, load_run

FORMATS = ("onnx", "torchscript", "pretrained")
_DEFAULT_NAMES = {"onnx": "generator.onnx", "torchscript": "generator.pt", "pretrained": "pretrained"}
EXAMPLE_BATCH = 2  # not 1: a traced batch of 1 could be specialised into the graph


class ExportedGenerator(nn.Module):
    """``(z[, y]) -> images`` in [-1, 1]: the generator with the conditional call spelled out."""

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator
        self.num_classes = num_classes_of(generator)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return call(self.generator, z, y)


def example_inputs(generator: nn.Module, z_dim: int, batch: int = EXAMPLE_BATCH) -> tuple[torch.Tensor, ...]:
    z = torch.randn(batch, z_dim)
    k = num_classes_of(generator)
    return (z,) if k is None else (z, torch.arange(batch) % k)


def export_onnx(generator: nn.Module, z_dim: int, path: str | Path, *,
                metadata: dict[str, object] | None = None) -> Path:
    """Write ``generator`` (CPU, inference mode) as one ONNX file with a dynamic batch dimension."""
    try:
        import onnx
        import onnxscript  # noqa: F401  (the exporter needs it)
    except ImportError:
        raise GanforgeError("ONNX export needs the onnx and onnxscript packages: "
                            "pip install 'ganforge[export]'") from None
    model = ExportedGenerator(generator).eval()
    inputs = example_inputs(generator, z_dim)
    names = ["z", "y"][:len(inputs)]
    batch = torch.export.Dim("batch")
    path = Path(path)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        # z and y share the batch axis on purpose; the exporter notes it once per input.
        warnings.filterwarnings("ignore", message="# The axis name: batch will not be used")
        torch.onnx.export(model, inputs, str(tmp), dynamo=True, input_names=names, output_names=["images"],
                          dynamic_shapes={n: {0: batch} for n in names}, external_data=False, verbose=False)
        proto = onnx.load(str(tmp))
        onnx.helper.set_model_props(proto, {k: json.dumps(v) for k, v in (metadata or {}).items()})
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
    return path


def export_torchscript(generator: nn.Module, z_dim: int, path: str | Path) -> Path:
    """Write ``generator`` traced to TorchScript (``torch.jit.load`` reads it)."""
    model = ExportedGenerator(generator).eval()
    path = Path(path)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\..* is deprecated", category=FutureWarning)
        traced = torch.jit.trace(model, example_inputs(generator, z_dim))
        with atomic_path(path) as tmp:
            traced.save(str(tmp))
    return path


def run_metadata(run: Run) -> dict[str, object]:
    return {"producer": "ganforge", "preset": run.config.preset, "z_dim": run.z_dim,
            "image_shape": list(run.image_shape), "num_classes": run.num_classes, "class_names": run.class_names,
            "output": "float32 N x C x H x W in [-1, 1]; pixels = (images + 1) * 127.5", "step": run.step}


def export_run(run_dir: str | Path, fmt: str, out: str | Path | None = None, *, checkpoint: str = "last") -> Path:
    """Export a run's sampling generator (the EMA when kept) as ``fmt``; returns what was written."""
    if fmt not in FORMATS:
        raise GanforgeError(f"unknown export format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    run = load_run(run_dir, checkpoint=checkpoint, device="cpu")
    out = Path(out) if out else run.outputs_dir / "export" / _DEFAULT_NAMES[fmt]
    if fmt == "onnx":
        return export_onnx(run.generator, run.z_dim, out, metadata=run_metadata(run))
    if fmt == "torchscript":
        return export_torchscript(run.generator, run.z_dim, out)
    return run.save_pretrained(out)


def add_export_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write a run's generator as ONNX, TorchScript or a pretrained folder",
                       description="ONNX and TorchScript files run without ganforge: input z (batch x z_dim, "
                                   "standard normal) and y (class indices, conditional runs only), output images "
                                   "in [-1, 1] (batch x C x H x W). 'pretrained' writes a from_pretrained folder.")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--format", required=True, choices=FORMATS)
    p.add_argument("--out", help="file (or folder for pretrained) to write (default RUN_DIR/export/generator.onnx, "
                                 "generator.pt or pretrained/)")
    p.add_argument("--checkpoint", default="last", help="checkpoint to export: last (default) or best")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    out = export_run(args.run_dir, args.format, args.out, checkpoint=args.checkpoint)
    print(f"wrote {out}")
    return 0
