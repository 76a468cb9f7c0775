"""Reading config.json files written by earlier versions: each layout is brought to the current one.

Layout 1 (ganforge 0.1; no ``config_version`` key) wrote ``null`` for every setting the preset left unset,
and the trainer of that version read a ``null`` as the value it then used: no R1, Adam's default betas,
the ``sum`` update, and so on. Those values are written out here, so an old run rebuilds, samples and
resumes exactly as it did. Its class count and names lived in ``extra``; its image shape was the preset's.
Layout 2 lacked the self-conditioning fields of layout 3 (``clusters``, ``cluster_shares``): it had none.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..config import CONFIG_VERSION
from ..errors import GanforgeError

# What a null (or a missing key) meant to ganforge 0.1's trainer, field by field.
LAYOUT_1_NULLS: dict[str, Any] = {
    "optimizer": "adam", "betas": [0.9, 0.999], "momentum": 0.0, "loss": "bce", "d_update": "sum", "d_steps": 1,
    "g_eval_for_d": False, "g_noise": "fresh", "init": "torch", "ema_kimg": 0.0, "r1_gamma": 0.0, "r1_every": 1,
    "r2_gamma": 0.0, "gp_weight": 0.0, "spectral_norm": "none", "augment": "none", "lr_schedule": "constant",
    "pack": 1, "precision": "fp32", "compile": "auto", "channels_last": "auto", "accel": "auto", "conditional": False,
    "fit": "crop", "mirror": False,  # layout 1 centre-cropped folder images and never flipped them
}


def migrate(data: dict[str, Any], *, source: str, image_shape: Callable[[str], tuple[int, int, int]],
            dataset_size: Callable[[str, str | None], int]) -> dict[str, Any]:
    """``data`` in the current layout. ``image_shape(preset)`` and ``dataset_size(dataset, data_dir)`` supply
    what layout 1 did not write down (the second only for a run whose length was given in epochs)."""
    version = data.get("config_version", 1)
    if not isinstance(version, int) or version > CONFIG_VERSION:
        raise GanforgeError(f"{source} was written by a newer ganforge (config version {version!r}); upgrade "
                            f"ganforge to read it")
    if version == CONFIG_VERSION:
        return data
    out = dict(data)
    out.setdefault("clusters", None)  # layout 3 added self-conditioning; earlier runs have none
    out.setdefault("cluster_shares", None)
    if version == 2:
        out["config_version"] = CONFIG_VERSION
        return out
    for key, value in LAYOUT_1_NULLS.items():
        if out.get(key) is None:
            out[key] = value
    extra = dict(out.get("extra") or {})
    for key in ("num_classes", "class_names"):  # facts of the data, kept in extra by layout 1
        value = extra.pop(key, out.get(key))
        out[key] = value if out["conditional"] else None
    out["extra"] = extra
    if not isinstance(out.get("preset"), str):
        raise GanforgeError(f"{source}: field 'preset' must be a string, got {out.get('preset')!r}")
    out["channels"], out["resolution"] = image_shape(out["preset"])[:2]
    if out.get("steps") is None and isinstance(out.get("epochs"), int):
        # The trainer of layout 1 counted steps from the dataset it loaded: whole batches per epoch.
        per_epoch = dataset_size(out["dataset"], out.get("data_dir")) // out["batch_size"]
        out["steps"] = math.ceil(out["epochs"] * per_epoch / out["d_steps"])
    out["config_version"] = CONFIG_VERSION
    return out
