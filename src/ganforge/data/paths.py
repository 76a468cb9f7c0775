"""Where datasets are looked for and cached."""

from __future__ import annotations

import os
from pathlib import Path


def _env_path(var: str) -> Path | None:
    value = os.environ.get(var, "").strip()
    return Path(value).expanduser() if value else None


def user_cache_dir() -> Path:
    """``$GANFORGE_CACHE_DIR``, else ``$XDG_CACHE_HOME/ganforge``, else ``~/.cache/ganforge``.

    Not created here: only a download writes into it.
    """
    explicit = _env_path("GANFORGE_CACHE_DIR")
    if explicit is not None:
        return explicit
    xdg = _env_path("XDG_CACHE_HOME")
    return (xdg if xdg is not None else Path.home() / ".cache") / "ganforge"


def data_dirs(data_dir: str | os.PathLike[str] | None) -> list[tuple[Path, str]]:
    """Folders that may hold ``<dataset>/`` sub-folders, in lookup order, each with where it came from."""
    found: list[tuple[Path, str]] = []
    if data_dir is not None and str(data_dir).strip():
        found.append((Path(data_dir).expanduser(), "data_dir"))
    env = _env_path("GANFORGE_DATA_DIR")
    if env is not None:
        found.append((env, "GANFORGE_DATA_DIR"))
    found.append((user_cache_dir() / "data", "cache"))
    unique: list[tuple[Path, str]] = []
    for path, why in found:
        if all(path != seen for seen, _ in unique):
            unique.append((path, why))
    return unique
