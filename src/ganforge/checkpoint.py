"""Checkpoints: one safetensors file holding networks, optimiser state and RNG state.

One file per checkpoint, written to a temporary name and renamed, so a crash leaves either the
old checkpoint or the new one, never a mix. Non-tensor state (step, config, optimiser
hyper-parameters) is JSON in the safetensors header. Nothing is unpickled, ever.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from .errors import GanforgeError
from .fileio import atomic_path

FORMAT = "ganforge-checkpoint"
VERSION = "1"


def _optimizer_tensors(prefix: str, opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], str]:
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, state in sd["state"].items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}/state/{idx}/{key}"] = value.detach().cpu().contiguous()
            elif value is not None:
                scalars.setdefault(str(idx), {})[key] = value
    meta = json.dumps({"param_groups": sd["param_groups"], "scalars": scalars})
    return tensors, meta


def _module_tensors(prefix: str, module: nn.Module) -> dict[str, torch.Tensor]:
    # clone(): safetensors refuses tensors that share storage.
    return {f"{prefix}/{k}": v.detach().cpu().contiguous().clone() for k, v in module.state_dict().items()}


def save_checkpoint(path: str | Path, *, modules: dict[str, nn.Module],
                    optimizers: dict[str, torch.optim.Optimizer] | None = None,
                    rng: dict[str, torch.Tensor] | None = None, meta: dict[str, Any] | None = None) -> None:
    """Write modules, optimisers and RNG states to ``path`` atomically."""
    tensors: dict[str, torch.Tensor] = {}
    header = {"format": FORMAT, "version": VERSION}
    for name, module in modules.items():
        tensors.update(_module_tensors(name, module))
    for name, opt in (optimizers or {}).items():
        t, m = _optimizer_tensors(name, opt)
        tensors.update(t)
        header[f"{name}.json"] = m
    for name, state in (rng or {}).items():
        tensors[f"rng/{name}"] = state.detach().cpu().contiguous()
    header["meta"] = json.dumps(meta or {})
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=header)


class Checkpoint:
    """A checkpoint opened for reading. Tensors are read lazily, so loading G alone is cheap."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise GanforgeError(f"checkpoint '{self.path}' does not exist")
        try:
            with safe_open(str(self.path), framework="pt") as f:
                self.header: dict[str, str] = f.metadata() or {}
                self.keys = list(f.keys())
        except (SafetensorError, OSError, ValueError) as e:
            raise GanforgeError(
                f"checkpoint '{self.path}' is not a readable safetensors file ({e}); "
                "it may be truncated or not a ganforge checkpoint") from None
        if self.header.get("format") != FORMAT:
            raise GanforgeError(f"'{self.path}' is a safetensors file but not a ganforge checkpoint")
        try:
            self.meta: dict[str, Any] = json.loads(self.header.get("meta", "{}"))
        except json.JSONDecodeError:
            raise GanforgeError(f"checkpoint '{self.path}' has a corrupt header") from None

    def tensors(self, prefix: str, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
        out = {}
        with safe_open(str(self.path), framework="pt", device=str(device)) as f:
            for k in self.keys:
                if k.startswith(prefix + "/"):
                    out[k[len(prefix) + 1:]] = f.get_tensor(k)
        return out

    def has(self, prefix: str) -> bool:
        return any(k.startswith(prefix + "/") for k in self.keys)

    def load_module(self, name: str, module: nn.Module) -> None:
        state = self.tensors(name)
        if not state:
            raise GanforgeError(f"checkpoint '{self.path}' holds no '{name}' network")
        try:
            module.load_state_dict(state, strict=True)
        except RuntimeError as e:
            detail = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
            raise GanforgeError(
                f"checkpoint '{self.path}': its '{name}' does not fit this model ({detail})") from None

    def load_optimizer(self, name: str, opt: torch.optim.Optimizer) -> None:
        if f"{name}.json" not in self.header:
            raise GanforgeError(f"checkpoint '{self.path}' holds no '{name}' optimiser state")
        info = json.loads(self.header[f"{name}.json"])
        state: dict[int, dict[str, Any]] = {}
        for key, value in self.tensors(f"{name}/state").items():
            idx, attr = key.split("/", 1)
            state.setdefault(int(idx), {})[attr] = value
        for idx, scalars in info["scalars"].items():
            state.setdefault(int(idx), {}).update(scalars)
        try:
            opt.load_state_dict({"state": state, "param_groups": info["param_groups"]})
        except (ValueError, KeyError) as e:
            raise GanforgeError(f"checkpoint '{self.path}': optimiser '{name}' does not fit ({e})") from None

    def rng(self, name: str) -> torch.Tensor | None:
        return self.tensors("rng").get(name)
