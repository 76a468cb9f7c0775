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
from .fileio import atomic_path, write_error

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
        try:
            save_file(tensors, str(tmp), metadata=header)
        except SafetensorError as e:  # the Rust writer reports disk-full and the like as SafetensorError
            raise write_error(path, e) from e


class Checkpoint:
    """A checkpoint opened for reading. Tensors are read lazily, so loading G alone is cheap.

    Opening checks what can be checked without reading the weights: that the file is a complete
    safetensors file, written by ganforge, with a well-formed JSON header; loading a network checks
    every tensor's name, shape and dtype against the model first. Every refusal is a ``GanforgeError``.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise GanforgeError(f"checkpoint '{self.path}' does not exist")
        try:
            with safe_open(str(self.path), framework="pt") as f:
                self.header: dict[str, str] = f.metadata() or {}
                self.keys = list(f.keys())
                self._dtypes = {k: f.get_slice(k).get_dtype() for k in self.keys if k.startswith("rng/")}
        except (SafetensorError, OSError, ValueError) as e:
            raise GanforgeError(
                f"checkpoint '{self.path}' is not a readable safetensors file ({e}); "
                "it may be truncated or not a ganforge checkpoint") from None
        if self.header.get("format") != FORMAT:
            raise GanforgeError(f"'{self.path}' is a safetensors file but not a ganforge checkpoint")
        if self.header.get("version") != VERSION:
            raise GanforgeError(f"checkpoint '{self.path}' has format version {self.header.get('version')!r}; "
                                f"this ganforge reads version {VERSION}")
        self.meta: dict[str, Any] = self._json("meta", "{}")
        self._check_meta()

    def _json(self, key: str, default: str | None = None) -> Any:
        text = self.header.get(key, default)
        if text is None:
            raise GanforgeError(f"checkpoint '{self.path}' has no '{key}' entry in its header")
        try:
            value = json.loads(text)
        except json.JSONDecodeError as e:
            raise GanforgeError(
                f"checkpoint '{self.path}' has a corrupt header: '{key}' is not valid JSON ({e})") from None
        if not isinstance(value, dict):
            raise GanforgeError(f"checkpoint '{self.path}' has a corrupt header: '{key}' must be a JSON object")
        return value

    def _check_meta(self) -> None:
        def bad(field: str, want: str) -> GanforgeError:
            return GanforgeError(f"checkpoint '{self.path}' has a corrupt header: meta '{field}' must be {want}, "
                                 f"got {self.meta[field]!r}")

        step = self.meta.get("step", 0)
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise bad("step", "a non-negative integer")
        best = self.meta.get("best")
        if best is not None and (isinstance(best, bool) or not isinstance(best, (int, float))):
            raise bad("best", "a number or null")
        last_eval = self.meta.get("last_eval", {})
        if not isinstance(last_eval, dict) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in last_eval.values()):
            raise bad("last_eval", "an object of numbers")
        preset = self.meta.get("preset")
        if preset is not None and not isinstance(preset, str):
            raise bad("preset", "a string")
        for key, dtype in self._dtypes.items():
            if dtype != "U8":  # RNG states are bytes; anything else would crash torch.set_rng_state
                raise GanforgeError(f"checkpoint '{self.path}': RNG state '{key}' has dtype {dtype}, not U8")

    def check_preset(self, preset: str) -> None:
        """Refuse a checkpoint written by another preset: some presets share every tensor shape."""
        written = self.meta.get("preset")
        if written is not None and written != preset:
            raise GanforgeError(f"checkpoint '{self.path}' was written by preset '{written}', "
                                f"but the run is '{preset}'; it belongs to another run")

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
        self._check_fits(name, state, module.state_dict())
        try:
            module.load_state_dict(state, strict=True)
        except RuntimeError as e:
            detail = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
            raise GanforgeError(
                f"checkpoint '{self.path}': its '{name}' does not fit this model ({detail})") from None

    def _check_fits(self, name: str, state: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
        """Name the first tensor that differs, with both shapes: the message a user can act on."""
        where = f"checkpoint '{self.path}': its '{name}' does not fit this model"
        hint = "(a checkpoint from another preset, size or z_dim?)"
        missing = [k for k in expected if k not in state]
        unexpected = [k for k in state if k not in expected]
        if missing or unexpected:
            parts = ([f"missing {name}/{missing[0]}" + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")]
                     if missing else [])
            parts += ([f"unexpected {name}/{unexpected[0]}"
                       + (f" and {len(unexpected) - 1} more" if len(unexpected) > 1 else "")] if unexpected else [])
            raise GanforgeError(f"{where}: {', '.join(parts)} {hint}")
        for key, want in expected.items():
            got = state[key]
            if got.shape != want.shape:
                raise GanforgeError(f"{where}: {name}/{key} has shape {_shape(got)} in the checkpoint and "
                                    f"{_shape(want)} in the model {hint}")
            if got.dtype != want.dtype:
                raise GanforgeError(f"{where}: {name}/{key} has dtype {got.dtype} in the checkpoint and "
                                    f"{want.dtype} in the model")

    def load_optimizer(self, name: str, opt: torch.optim.Optimizer) -> None:
        if f"{name}.json" not in self.header:
            raise GanforgeError(f"checkpoint '{self.path}' holds no '{name}' optimiser state")
        info = self._json(f"{name}.json")
        state: dict[int, dict[str, Any]] = {}
        try:
            for key, value in self.tensors(f"{name}/state").items():
                idx, attr = key.split("/", 1)
                state.setdefault(int(idx), {})[attr] = value
            for idx, scalars in info["scalars"].items():
                state.setdefault(int(idx), {}).update(scalars)
            opt.load_state_dict({"state": state, "param_groups": info["param_groups"]})
        except (ValueError, KeyError, TypeError, AttributeError, IndexError, RuntimeError) as e:
            raise GanforgeError(f"checkpoint '{self.path}': optimiser '{name}' does not fit ({e})") from None

    def rng(self, name: str) -> torch.Tensor | None:
        return self.tensors("rng").get(name)


def _shape(t: torch.Tensor) -> str:
    return "x".join(str(n) for n in t.shape) or "scalar"
