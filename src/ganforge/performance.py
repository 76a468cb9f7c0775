"""Speed settings that leave the maths alone: thread counts, memory layout, compilation, fused
optimisers. The one that changes the maths, bf16 autocast, says so (``precision``)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

from .errors import GanforgeError

PRECISIONS = ("fp32", "bf16")
COMPILE_MODES = ("auto", "none", "default", "reduce-overhead", "max-autotune")
CHANNELS_LAST = ("auto", "on", "off")


class Switch:
    """A process-wide on/off setting for an exact speed path (the Fourier route, the shared backward),
    so benches and tests can compare against the plain computation."""

    def __init__(self, on: bool = True) -> None:
        self._on = on

    def enabled(self) -> bool:
        return self._on

    def set_enabled(self, on: bool) -> bool:
        """Turn it on or off; returns the previous setting."""
        before, self._on = self._on, on
        return before

    @contextlib.contextmanager
    def disabled(self) -> Iterator[None]:
        """Off inside the block, as before after it."""
        before = self.set_enabled(False)
        try:
            yield
        finally:
            self.set_enabled(before)


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


_ALLOCATOR_TUNED = False


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed memory instead of handing it back to the OS (Linux only).

    A training step frees and re-allocates the same large activations every time; by default glibc
    returns them to the kernel, so each step page-faults tens of megabytes back in (11,000 to 21,000
    faults per dcgan-28 step measured). Keeping them is what jemalloc/tcmalloc setups do for PyTorch
    on CPU. Process-wide and idempotent; returns whether it took effect."""
    global _ALLOCATOR_TUNED
    if _ALLOCATOR_TUNED:
        return True
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    ok = (mallopt(m_mmap_threshold, 32 << 20) == 1  # blocks up to 32 MiB come from the heap, which is kept
          and mallopt(m_trim_threshold, 1 << 30) == 1  # trim the heap top only past 1 GiB free
          and mallopt(m_top_pad, 64 << 20) == 1)
    _ALLOCATOR_TUNED = ok
    return ok
