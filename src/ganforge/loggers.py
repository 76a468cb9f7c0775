"""Optional training loggers: where the trainer sends its log records and sample grids besides
``log.jsonl`` and ``grids/`` (which it always writes).

A logger is one registered factory (``LOGGERS``), chosen with the config field ``logger``
(``--logger``). ``none`` drops everything; ``tensorboard`` writes event files to ``RUN_DIR/tensorboard/``
(view with ``tensorboard --logdir RUN_DIR/tensorboard``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torchvision.utils import make_grid

from .errors import GanforgeError

TENSORBOARD_DIR = "tensorboard"
# Keys of a log record that are bookkeeping, not curves.
_NOT_SCALARS = {"step", "time", "metric"}


class TrainingLogger:
    """The interface, and the ``none`` logger: every method does nothing."""

    def config(self, config: dict[str, Any]) -> None:
        """The resolved run config, once at the start."""

    def record(self, rec: dict[str, Any]) -> None:
        """One line of ``log.jsonl``: a training record (losses) or an eval record (has ``metric``)."""

    def grid(self, step: int, images: torch.Tensor, nrow: int) -> None:
        """The fixed-noise samples at ``step`` (uint8 N x C x H x W)."""

    def close(self) -> None:
        """Flush and release files."""


class TensorBoardLogger(TrainingLogger):
    """Scalars under ``train/`` (losses, D outputs, images/s) and ``eval/METRIC/KEY``, the grid as
    the image ``samples/fixed_noise``, the config as text."""

    def __init__(self, run_dir: Path, start_step: int = 0) -> None:
        from torch.utils.tensorboard import SummaryWriter

        # On resume, TensorBoard hides the events from purge_step on: those the interrupted process wrote
        # after the checkpoint we resume from, as log.jsonl is truncated to that step.
        self.writer = SummaryWriter(log_dir=str(Path(run_dir) / TENSORBOARD_DIR),
                                    purge_step=start_step + 1 if start_step > 0 else None)

    def config(self, config: dict[str, Any]) -> None:
        self.writer.add_text("config", "```\n" + json.dumps(config, indent=2) + "\n```", 0)

    def record(self, rec: dict[str, Any]) -> None:
        step = int(rec["step"])
        prefix = f"eval/{rec['metric']}/" if "metric" in rec else "train/"
        for key, value in rec.items():
            if key not in _NOT_SCALARS and isinstance(value, int | float) and not isinstance(value, bool):
                self.writer.add_scalar(prefix + key, value, step)

    def grid(self, step: int, images: torch.Tensor, nrow: int) -> None:
        self.writer.add_image("samples/fixed_noise", make_grid(images.cpu(), nrow=nrow, padding=2), step,
                              dataformats="CHW")

    def close(self) -> None:
        self.writer.close()


LoggerFactory = Callable[[Path, int], TrainingLogger]
LOGGERS: dict[str, LoggerFactory] = {
    "none": lambda run_dir, start_step: TrainingLogger(),
    "tensorboard": TensorBoardLogger,
}


def check_logger_name(name: str) -> None:
    if not isinstance(name, str) or name not in LOGGERS:
        raise GanforgeError(f"unknown logger {name!r}; choose one of: {', '.join(LOGGERS)}")


def make_logger(name: str, run_dir: str | Path, start_step: int = 0) -> TrainingLogger:
    """The logger called ``name`` for a run folder; ``start_step`` > 0 when resuming."""
    check_logger_name(name)
    return LOGGERS[name](Path(run_dir), start_step)
