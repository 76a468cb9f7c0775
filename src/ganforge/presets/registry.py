"""The preset registry: what a preset is, how it is found, and how its networks are built."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .. import accel
from ..config import DEFAULT_PRESET, RunConfig
from ..errors import GanforgeError
from ..models.conditional import num_classes_of
from ..models.layers import init_weights
from ..penalties import apply_spectral_norm

Builder = Callable[[RunConfig], nn.Module]
# The families in the order `ganforge presets` lists them: the lean DCGANs for CPUs (the default among them),
# the tutorial models as written, the modern recipes for GPUs.
FAMILIES = {"lean": "lean DCGANs for a CPU", "tutorial": "the Keras, TensorFlow and PyTorch tutorials as written",
            "modern": "modern recipes (SNGAN-style ResNets) for a GPU"}


@dataclass(frozen=True)
class Preset:
    name: str
    description: str  # one line: what it is and what it is for
    image_shape: tuple[int, int, int]  # C, H, W of the generated images by default
    generator: Builder
    discriminator: Builder
    defaults: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # where the recipe comes from
    purpose: str = ""  # a few words for the presets table
    family: str = ""  # a key of FAMILIES: where the preset stands in the list
    resolutions: tuple[int, ...] = ()  # sides the architecture can make; () means only image_shape's
    channel_options: tuple[int, ...] = ()  # channel counts it can make; () means only image_shape's
    # A choice for a folder of images given without --preset (resolve.choose_preset): the lean recipe for
    # its image shape, trained in minutes on a CPU.
    cpu_default: bool = False

    @property
    def supported_resolutions(self) -> tuple[int, ...]:
        return self.resolutions or (self.image_shape[1],)

    @property
    def supported_channels(self) -> tuple[int, ...]:
        return self.channel_options or (self.image_shape[0],)

    @property
    def conditional(self) -> bool:
        """Class-conditional by default."""
        return bool(self.defaults.get("conditional"))


PRESETS: dict[str, Preset] = {}


def register_preset(preset: Preset) -> Preset:
    if preset.name in PRESETS:
        raise ValueError(f"preset {preset.name!r} is registered twice")
    if preset.family not in FAMILIES:
        raise ValueError(f"preset {preset.name!r}: family {preset.family!r} is not one of {', '.join(FAMILIES)}")
    PRESETS[preset.name] = preset
    return preset


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise GanforgeError(f"unknown preset {name!r}; choose one of: {', '.join(preset_names())}") from None


def preset_names() -> list[str]:
    """Every preset in the order a person reads them: family by family (``FAMILIES``), the default first,
    then by name; the same order whatever registered them first."""
    families = list(FAMILIES)
    return sorted(PRESETS, key=lambda n: (families.index(PRESETS[n].family), n != DEFAULT_PRESET, n))


def conditional_presets() -> list[str]:
    """Presets that are class-conditional by default."""
    return [name for name, p in PRESETS.items() if p.conditional]


def d_channels(c: RunConfig) -> int:
    """D's input channels: with PacGAN packing (``pack`` = m) D sees m images stacked on channels."""
    return c.channels * c.pack


def _check_conditional(cfg: RunConfig, *nets: nn.Module) -> None:
    if cfg.clusters and any(num_classes_of(n) is None for n in nets):
        raise GanforgeError(f"preset {cfg.preset!r} has no conditional version, which --clusters needs; the lean "
                            "DCGAN and ResNet presets have one (see 'ganforge presets')")
    if cfg.conditional and any(num_classes_of(n) is None for n in nets):
        raise GanforgeError(f"preset {cfg.preset!r} has no class-conditional version; conditional presets: "
                            f"{', '.join(conditional_presets())}")


def _accelerate(cfg: RunConfig, device: torch.device | None, *nets: nn.Module, training: bool) -> None:
    """Switch in the speed tricks ``cfg.accel`` allows on ``device`` (``ganforge.accel``): the one place
    where they meet the models, whoever builds them (training, sampling). Without a device the networks
    stay plain (built to be inspected); only training sets the process-wide allocator."""
    if device is None:
        return
    plan = accel.plan(cfg.accel, device)
    accel.apply(plan if training else dataclasses.replace(plan, allocator=False), *nets)


def build_models(cfg: RunConfig, device: torch.device | None = None) -> tuple[nn.Module, nn.Module]:
    """G and D for a complete config, initialised with its scheme, spectral norm applied where asked, the
    speed tricks for ``device`` switched in."""
    preset = get_preset(cfg.preset)
    g, d = preset.generator(cfg), preset.discriminator(cfg)
    _check_conditional(cfg, g, d)
    init_weights(g, cfg.init)
    init_weights(d, cfg.init)
    if cfg.spectral_norm in ("d", "gd"):  # after the init: SN rescales whatever weights it is given
        apply_spectral_norm(d)
    if cfg.spectral_norm == "gd":
        apply_spectral_norm(g)
    _accelerate(cfg, device, g, d, training=True)
    return g, d


def build_generator(cfg: RunConfig, device: torch.device | None = None) -> nn.Module:
    """G alone, as ``build_models`` makes it (the same layers and parameter names), for sampling."""
    g = get_preset(cfg.preset).generator(cfg)
    _check_conditional(cfg, g)
    init_weights(g, cfg.init)
    if cfg.spectral_norm == "gd":
        apply_spectral_norm(g)
    _accelerate(cfg, device, g, training=False)
    return g
