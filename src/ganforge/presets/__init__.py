"""Named presets: an architecture plus the hyperparameters it was published with, one registered entry each.

A preset's ``defaults`` hold values for :class:`~ganforge.config.RunConfig` fields; anything the user sets
wins over them. Its ``generator`` and ``discriminator`` build the networks from a complete RunConfig, so
a run's ``config.json`` alone rebuilds them. Measured figures live in ``quality.json`` beside this file,
written by ``bench/preset_quality.py`` and read through ``quality``, never in the code.

The presets are registered by the modules imported below: ``lean`` (the fast DCGANs for CPUs), ``colour``
(the lean colour DCGANs and PyTorch's DCGAN), ``tutorials`` (the Keras/TensorFlow tutorial models as written)
and ``modern`` (SNGAN-style ResNets and R3GAN's recipe);
``preset_names`` lists them family by family. ``summarize_preset`` gives Keras-style summaries of a config's
networks; ``ganforge.preset_catalog`` puts all of it into the ``ganforge presets`` table and descriptions.
"""

from . import colour, lean, modern, tutorials  # noqa: F401  (each module registers its presets)
from .quality import measured_quality
from .registry import (
    FAMILIES,
    PRESETS,
    Preset,
    build_generator,
    build_models,
    conditional_presets,
    d_channels,
    get_preset,
    preset_names,
    register_preset,
)
from .summaries import summarize_preset

__all__ = ["FAMILIES", "PRESETS", "Preset", "build_generator", "build_models", "conditional_presets", "d_channels",
           "get_preset", "measured_quality", "preset_names", "register_preset", "summarize_preset"]
