"""The run folder: its layout, its config, its log and checkpoints, and the generator it holds.

Everything that reads a trained run (sampling, eval, export, report, the studio, the Hub) goes through
this package; none of it imports the training loop.

>>> run = load_run("runs/dcgan-28-fast-mnist-20261123-101500")
>>> images = run.generate(16, seed=0)      # uint8 tensor, 16 x 1 x 28 x 28
"""

from __future__ import annotations

from pathlib import Path

from ..errors import GanforgeError
from .folder import (
    BEST_CHECKPOINT,
    CONFIG_FILE,
    FINAL_GRID,
    LAST_CHECKPOINT,
    LOG_FILE,
    METRICS_FILE,
    checkpoint_path,
    is_run_folder,
    read_config,
    read_log,
)
from .model import Generator, Run, load_pretrained, load_run_folder
from .pretrained import is_pretrained_folder, save_pretrained
from .shipped import PREFIX, is_shipped_ref, shipped_names, shipped_path


def load_run(path: str | Path, *, checkpoint: str = "last", device: str | None = None) -> Run:
    """A trained generator in inference mode: a run folder (its ``last`` or a named checkpoint), a
    pretrained folder (``save_pretrained``), or ``"pretrained:NAME"``, a generator that ships with ganforge
    (``shipped_names()``)."""
    if is_shipped_ref(path):
        path = shipped_path(str(path))
    path = Path(path)
    if is_pretrained_folder(path) and not (path / "checkpoints").is_dir():
        if checkpoint != "last":
            raise GanforgeError(f"'{path}' is a pretrained folder with one generator; it has no '{checkpoint}' "
                                "checkpoint")
        return load_pretrained(path, device=device)
    return load_run_folder(path, checkpoint=checkpoint, device=device)


__all__ = ["BEST_CHECKPOINT", "CONFIG_FILE", "FINAL_GRID", "LAST_CHECKPOINT", "LOG_FILE", "METRICS_FILE", "PREFIX",
           "Generator", "Run", "checkpoint_path", "is_pretrained_folder", "is_run_folder", "is_shipped_ref",
           "load_pretrained", "load_run", "read_config", "read_log", "save_pretrained", "shipped_names",
           "shipped_path"]
