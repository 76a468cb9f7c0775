"""The generators that ship inside ganforge: ``pretrained:NAME`` is accepted wherever a run folder is.

Each lives in ``ganforge/pretrained/NAME/`` as a pretrained folder (``save_pretrained``'s config.json,
model.safetensors, README.md, samples.png) plus ``pretrained.json``: the command that trained it, its
budget and its measured metrics. They are package data, so they load offline the minute ganforge is
installed; nothing is ever written into them (commands write beside the current directory instead).

>>> run = load_run("pretrained:mnist-cond")
>>> sevens = run.generate(16, seed=0, labels=torch.full((16,), 7))
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import GanforgeError

PREFIX = "pretrained:"
SHIPPED_DIR = Path(__file__).resolve().parents[1] / "pretrained"
INFO_FILE = "pretrained.json"
_FOLDER_FILES = ("config.json", "model.safetensors")


def shipped_names() -> list[str]:
    """The names of the generators that ship with this installation, sorted."""
    if not SHIPPED_DIR.is_dir():
        return []
    return sorted(p.name for p in SHIPPED_DIR.iterdir()
                  if p.is_dir() and all((p / f).is_file() for f in _FOLDER_FILES))


def is_shipped_ref(ref: str | os.PathLike[str]) -> bool:
    """Whether ``ref`` names a shipped generator (``pretrained:NAME``) rather than a path."""
    return isinstance(ref, str) and ref.startswith(PREFIX)


def shipped_path(ref: str) -> Path:
    """The folder of ``pretrained:NAME`` (or of a bare NAME); an unknown name is a one-line error listing them."""
    name = ref.removeprefix(PREFIX)
    names = shipped_names()
    if name not in names:
        listed = ", ".join(PREFIX + n for n in names) or "none in this installation"
        raise GanforgeError(f"unknown pretrained generator {PREFIX + name!r}; the ones that ship with ganforge: "
                            f"{listed}")
    return SHIPPED_DIR / name


def shipped_name_of(path: str | os.PathLike[str]) -> str | None:
    """``pretrained:NAME`` when ``path`` is a shipped generator's folder, else None."""
    try:
        resolved = Path(path).resolve()
    except OSError:
        return None
    if resolved.parent == SHIPPED_DIR and resolved.name in shipped_names():
        return PREFIX + resolved.name
    return None


def shipped_info(ref: str) -> dict[str, Any]:
    """What ``pretrained.json`` records about a shipped generator: command, budget, metrics ({} if absent)."""
    return read_info(shipped_path(ref))


def read_info(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """A pretrained folder's ``pretrained.json`` (how it was made and measured), {} when it has none."""
    path = Path(folder) / INFO_FILE
    if not path.is_file():
        return {}
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise GanforgeError(f"'{path}' is not valid JSON ({e})") from None
    return info if isinstance(info, dict) else {}
