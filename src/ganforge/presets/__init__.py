"""Named presets: an architecture plus the hyperparameters it was published with, one registered entry each.

A preset's ``defaults`` hold values for :class:`~ganforge.config.RunConfig` fields; anything the user sets
wins over them. Its ``generator`` and ``discriminator`` build the networks from a complete RunConfig, so
a run's ``config.json`` alone rebuilds them. Measured figures live in ``quality.json`` beside this file,
written by ``bench/preset_quality.py``, never in the code.

The presets are registered by the modules imported at the bottom: ``lean`` (the fast DCGANs for CPUs),
``tutorials`` (the Keras/TensorFlow tutorial models as written) and ``modern`` (SNGAN-style ResNets).
"""

from . import lean, modern, tutorials  # noqa: F401  (each module registers its presets)
from .registry import (
    PRESETS,
    Preset,
    build_generator,
    build_models,
    conditional_presets,
    d_channels,
    get_preset,
    measured_quality,
    register_preset,
)

__all__ = ["PRESETS", "Preset", "build_generator", "build_models", "conditional_presets", "d_channels", "get_preset",
           "measured_quality", "register_preset"]
