"""Speed settings a run chooses in its config: memory layout, compilation, fused optimisers, precision.
All but bf16 autocast leave the maths alone; that one says so (``precision``). The CPU tricks that a
run switches in with ``accel`` are the rest of this package."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..errors import GanforgeError

PRECISIONS = ("fp32", "bf16")
COMPILE_MODES = ("auto", "none", "default", "reduce-overhead", "max-autotune")
CHANNELS_LAST = ("auto", "on", "off")


def has_convolutions(module: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.conv._ConvNd) for m in module.modules())


def use_channels_last(setting: str, modules: list[nn.Module]) -> bool:
    """NHWC is faster for convolutions with oneDNN (CPU, measured +13% on dcgan-28) and for cuDNN
    with tensor cores; it does not change results beyond float rounding order."""
    if setting not in CHANNELS_LAST:
        raise GanforgeError(f"channels_last must be one of {', '.join(CHANNELS_LAST)}; got {setting!r}")
    if setting == "off":
        return False
    return any(has_convolutions(m) for m in modules)


def use_compile(mode: str, device: torch.device) -> str:
    """The torch.compile mode to use. ``auto`` compiles on GPUs only: on a 2-core CPU the compile
    time (tens of seconds) outweighs the gain for runs of minutes."""
    if mode not in COMPILE_MODES:
        raise GanforgeError(f"compile must be one of {', '.join(COMPILE_MODES)}; got {mode!r}")
    if mode == "auto":
        return "default" if device.type == "cuda" else "none"
    return mode


def compiled(module: nn.Module, mode: str) -> Callable[..., Any]:
    """A compiled callable for ``module``'s forward; the module itself (and its state_dict keys) is untouched."""
    if mode == "none":
        return module
    # The backend is inductor; GANFORGE_COMPILE_BACKEND=aot_eager checks the graph capture without
    # generating C++ (minutes on 2 cores), which is how the CPU test suite exercises this path.
    backend = os.environ.get("GANFORGE_COMPILE_BACKEND", "inductor")
    if backend != "inductor":
        return torch.compile(module, backend=backend, dynamic=False)
    return torch.compile(module, mode=mode, dynamic=False)


def with_precision(forward: Callable[..., torch.Tensor], precision: str,
                   device: torch.device) -> Callable[..., torch.Tensor]:
    """``forward`` under bf16 autocast when asked for, its output back in fp32 so losses and
    regularisers stay fp32; weights and optimiser state are fp32 either way."""
    if precision not in PRECISIONS:
        raise GanforgeError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    if precision == "fp32":
        return forward

    def run(*args: Any, **kwargs: Any) -> torch.Tensor:
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
            out = forward(*args, **kwargs)
        return out.float()

    return run


def fused_supported(device: torch.device) -> bool:
    """Fused Adam/SGD run as one kernel per step (4x faster than foreach on this CPU for mlp-adam's
    3M parameters) and can skip a step on the device when the gradients are not finite."""
    return device.type in ("cpu", "cuda")


# oneDNN ISA limits below AVX512_CORE_BF16: with one of these set, bf16 arithmetic is emulated even on a CPU
# that has it (as ONEDNN_MAX_CPU_ISA=AVX2 makes an AVX-512 machine behave like an AVX2-only one).
_NO_BF16_ISA = {"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI"}


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` does bf16 arithmetic in hardware. On a CPU without it (x86 before AVX512_BF16 or
    AMX, Arm before FEAT_BF16), oneDNN emulates bf16, which is slower than fp32 by far."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper() in _NO_BF16_ISA:
        return False
    if os.environ.get("ATEN_CPU_CAPABILITY", "").lower() in ("default", "avx2"):
        return False
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            words = {w for line in f if line.split(":")[0].strip() in ("flags", "Features")
                     for w in line.partition(":")[2].split()}
    except OSError:  # not Linux: no way to tell here, so no promise
        return False
    return bool(words & {"avx512_bf16", "amx_bf16", "bf16"})
