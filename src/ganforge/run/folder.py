"""The run folder's layout, and reading and writing what it holds (config, log, checkpoints' places).

    RUN_DIR/config.json                 the run's complete config (``RunConfig``)
    RUN_DIR/log.jsonl                   one JSON record per log interval, and one per evaluation
    RUN_DIR/checkpoints/last.safetensors   networks, optimisers, RNG states (see ``ganforge.checkpoint``)
    RUN_DIR/checkpoints/best.safetensors   the best evaluation so far (with --eval-every)
    RUN_DIR/grids/step_NNNNNN.png       the fixed-noise grid over training
    RUN_DIR/final_grid.png              written last: the run finished
    RUN_DIR/output.log                  what the trainer printed, when the studio started it
    RUN_DIR/losses.png, metrics.json, report.html, samples/, tensorboard/
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

from ..config import RunConfig
from ..errors import GanforgeError
from ..fileio import atomic_write_text
from .migrate import migrate

CONFIG_FILE = "config.json"
LOG_FILE = "log.jsonl"
CHECKPOINTS_DIR = "checkpoints"
LAST_CHECKPOINT = "checkpoints/last.safetensors"
BEST_CHECKPOINT = "checkpoints/best.safetensors"
GRIDS_DIR = "grids"
FINAL_GRID = "final_grid.png"
LOSSES_PLOT = "losses.png"
METRICS_FILE = "metrics.json"
OUTPUT_FILE = "output.log"


def is_run_folder(path: str | Path) -> bool:
    return (Path(path) / CONFIG_FILE).is_file()


def checkpoint_path(run_dir: str | Path, name: str = "last") -> Path:
    return Path(run_dir) / CHECKPOINTS_DIR / f"{name}.safetensors"


def grid_path(run_dir: str | Path, step: int) -> Path:
    return Path(run_dir) / GRIDS_DIR / f"step_{step:06d}.png"


def read_config(run_dir: str | Path) -> RunConfig:
    """A run folder's config, from any version's layout."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise GanforgeError(f"run folder '{run_dir}' does not exist")
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        raise GanforgeError(f"'{run_dir}' is not a ganforge run folder (no {CONFIG_FILE})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise GanforgeError(f"'{path}' is not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise GanforgeError(f"'{path}' must hold a JSON object")
    return config_from_dict(data, source=str(path))


def config_from_dict(data: dict, source: str) -> RunConfig:
    """A complete config from a dict of any version's layout (config.json, a pretrained folder's)."""
    from ..data import load_dataset
    from ..presets import get_preset

    def dataset_size(name: str, data_dir: str | None) -> int:
        return len(load_dataset(name, data_dir=data_dir, log=lambda _: None))

    def image_shape(preset: str) -> tuple[int, int, int]:
        return get_preset(preset).image_shape

    return RunConfig.from_dict(migrate(data, source=source, image_shape=image_shape, dataset_size=dataset_size),
                               source=source)


def write_config(run_dir: str | Path, cfg: RunConfig) -> None:
    atomic_write_text(Path(run_dir) / CONFIG_FILE, cfg.to_json())  # creates the folder, or a one-line error


def default_run_dir(cfg: RunConfig, when: datetime | None = None) -> Path:
    dataset = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(cfg.dataset.removeprefix("folder:")).name or cfg.dataset)
    stamp = (when or datetime.now()).strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{cfg.preset}-{dataset}-{stamp}"


def check_new_run_dir(path: Path) -> None:
    # A folder holding only the output of the run about to start counts as new: the studio (and a shell's
    # `ganforge train --out DIR > DIR/output.log`) opens that file before the trainer runs.
    if path.exists() and (not path.is_dir() or any(p.name != OUTPUT_FILE for p in path.iterdir())):
        raise GanforgeError(
            f"run folder '{path}' already exists and is not empty; continue it with "
            f"'ganforge train --resume {path}' or choose another --out")


def read_log(path: str | Path) -> list[dict]:
    """The records of a log.jsonl; a line cut by a crash is skipped."""
    records = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def truncate_log(path: Path, step: int) -> None:
    """Drop log lines written after the checkpoint a run resumes from, so the log has no duplicates."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                kept.append(line)
        except json.JSONDecodeError:
            continue  # a line cut by a crash
    atomic_write_text(path, "".join(x + "\n" for x in kept))
