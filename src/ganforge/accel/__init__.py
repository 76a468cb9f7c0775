"""CPU speed tricks, kept apart from what the models compute and switched in at one place.

The model files say what G and D compute; this package holds faster ways to compute parts of it on the
CPU, and the policy for where each is on by default:

- ``fourier``: stride-1 transposed convolutions in the Fourier domain where that does far fewer
  multiply-adds (``fourier.py``; dcgan-28's first G layer).
- ``col2im``: convolutions with <= 4 channels at the image end as a matmul and col2im (``col2im.py``).
- ``fast_dropout``: the Keras dropout's uniform numbers drawn on two threads (``dropout.py``; another
  random stream for large tensors, of the same distribution).
- ``shared_backward``: one backward through D for both losses of a simultaneous step (``shared_backward.py``).
- ``allocator``: glibc keeps freed memory, so steps do not page-fault (``allocator.py``; process-wide).

All but ``fast_dropout`` give the plain computation's numbers up to float rounding.

    plan = accel.plan("auto", device)   # or "off", or "fourier,col2im"; GANFORGE_ACCEL=off turns all off
    accel.apply(plan, G, D)             # eligible layers get an accelerated subclass, in place
    accel.remove(G, D)                  # and back

``apply`` swaps the class of a layer instance for a subclass that overrides only its arithmetic hook
(``_conv``, ``_transposed``, ``_uniform``), as torch's parametrize does, so parameters, buffers and
state_dict keys stay as they are.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, fields

import torch
from torch import nn

from ..errors import GanforgeError
from . import col2im, dropout, fourier
from .allocator import keep_freed_memory
from .hooks import hook_for

TRICKS = ("fourier", "col2im", "fast_dropout", "shared_backward", "allocator")
SETTINGS = ("auto", "off")  # or a comma list of TRICKS
ENV = "GANFORGE_ACCEL"  # "off": no tricks, whatever a run's setting says


@dataclass(frozen=True)
class AccelPlan:
    """Which tricks are on for one device."""

    fourier: bool = False
    col2im: bool = False
    fast_dropout: bool = False
    shared_backward: bool = False
    allocator: bool = False

    def names(self) -> tuple[str, ...]:
        """The tricks that are on, in ``TRICKS`` order."""
        return tuple(f.name for f in fields(self) if getattr(self, f.name))


def _cpu(device: torch.device, capability: str) -> bool:
    return device.type == "cpu"


# Where each trick is on under "auto": trick -> predicate(device, CPU capability as torch reports it,
# e.g. "AVX512" or "AVX2"). Every trick is CPU-only. Measured with `python bench/accel.py` (dcgan-28 at batch
# 256, on and off alternating, 2 threads, a 2-core Xeon with AVX-512), off / on, natively and with
# ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2: fourier 1.74x / 2.14x;
# shared_backward 1.18x / 1.13x; col2im 1.02x / 0.99x on dcgan-28's step, and whole dcgan-28-fast steps
# about 8% faster with it (it stays off above 31 px, where it loses: col2im.py); fast_dropout's mask draw
# 1.6x faster, whole D passes 1.01x / 0.99x; allocator 0.99x / 1.00x in time, with page faults per step
# from about 16,800 to 1,350 and the kernel's CPU time per step from 26-31 ms to 1-3 ms.
POLICY: dict[str, Callable[[torch.device, str], bool]] = {
    "fourier": _cpu,
    "col2im": _cpu,
    "fast_dropout": _cpu,
    "shared_backward": _cpu,
    "allocator": _cpu,
}


def _names(setting: str) -> list[str]:
    return [name.strip() for name in setting.split(",")]


def check_setting(value: object) -> None:
    """Refuse, in one line, anything but "auto", "off" or a comma list of trick names."""
    if isinstance(value, str) and (value in SETTINGS or all(n in TRICKS for n in _names(value))):
        return
    raise GanforgeError(f"accel must be auto, off or a comma list of {', '.join(TRICKS)} (e.g. 'fourier,col2im'); "
                        f"got {value!r}")


def _forced_off() -> bool:
    value = os.environ.get(ENV, "").strip()
    if value not in ("", "off"):
        raise GanforgeError(f"{ENV} must be 'off' or unset; got {value!r}")
    return value == "off"


def plan(setting: str, device: torch.device | str) -> AccelPlan:
    """The tricks for ``device``: "auto" those the policy has on for it, "off" none (plain PyTorch), a
    comma list those named that apply to it (all are CPU-only). ``GANFORGE_ACCEL=off`` wins over any setting."""
    check_setting(setting)
    device = torch.device(device)
    if _forced_off() or setting == "off":
        return AccelPlan()
    if setting == "auto":
        capability = torch.backends.cpu.get_cpu_capability()
        on = {name for name, wins in POLICY.items() if wins(device, capability)}
    else:
        on = set(_names(setting)) if device.type == "cpu" else set()
    return AccelPlan(**{name: name in on for name in TRICKS})


# ---- switching layers -----------------------------------------------------------------------------------

_CLASSES: dict[tuple[type, ...], type] = {}  # (tricks' classes..., plain class) -> the accelerated class


def _trick_classes(p: AccelPlan, layer: nn.Module, image_input: bool) -> tuple[type, ...]:
    """The accelerated classes ``layer`` takes under ``p``, outermost first (the Fourier route before col2im)."""
    out: list[type] = []
    if p.fourier and fourier.eligible(layer):
        out.append(fourier.FourierConvTranspose2d)
    if p.col2im and (col2im.transposed_eligible(layer) or image_input and col2im.conv_eligible(layer)):
        out.append(col2im.Col2imConvTranspose2d if isinstance(layer, nn.ConvTranspose2d) else col2im.Col2imConv2d)
    if p.fast_dropout and dropout.eligible(layer):
        out.append(dropout.FastDropout)
    return tuple(out)


def _plain_class(layer: nn.Module) -> type:
    return getattr(type(layer), "_accel_plain", type(layer))


def _accelerated(tricks: tuple[type, ...], plain: type) -> type:
    key = (*tricks, plain)
    if key not in _CLASSES:
        name = "Accel" + plain.__name__
        _CLASSES[key] = type(name, (*tricks, *hook_for(plain), plain),
                             {"_accel_plain": plain, "__module__": __name__, "__qualname__": name})
    return _CLASSES[key]


def apply(p: AccelPlan, *modules: nn.Module) -> None:
    """Switch ``p``'s tricks into ``modules`` in place: each eligible layer's class becomes an accelerated
    subclass of its own (a layer that no trick applies to, or that ``p`` leaves out, is plain again), and
    glibc keeps freed memory when ``p.allocator``. Idempotent; parameters, buffers and state_dict keys are
    untouched. The shared backward is the trainer's to ask ``p`` about."""
    for model in modules:
        image_input = col2im.reads_images(model)
        for layer in model.modules():
            plain = _plain_class(layer)
            tricks = _trick_classes(p, layer, image_input)
            layer.__class__ = _accelerated(tricks, plain) if tricks else plain
    if p.allocator:
        keep_freed_memory()


def remove(*modules: nn.Module) -> None:
    """Give every accelerated layer of ``modules`` its plain class back."""
    for model in modules:
        for layer in model.modules():
            layer.__class__ = _plain_class(layer)


def tricks_of(module: nn.Module) -> dict[str, tuple[str, ...]]:
    """{layer name: its tricks} for the accelerated layers of ``module`` (what ``apply`` did, for tests and benches)."""
    names = {fourier.FourierConvTranspose2d: "fourier", col2im.Col2imConv2d: "col2im",
             col2im.Col2imConvTranspose2d: "col2im", dropout.FastDropout: "fast_dropout"}
    return {name: tuple(names[c] for c in type(m).__mro__ if c in names)
            for name, m in module.named_modules() if hasattr(type(m), "_accel_plain")}
