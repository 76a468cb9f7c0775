"""Where the metrics code keeps its files (one function, so tests can redirect it)."""

from __future__ import annotations

from pathlib import Path


def cache_root() -> Path:
    """ganforge's user cache folder; evaluators and real-split features live below it."""
    from ganforge.data import user_cache_dir  # lazy: the data package is heavier than this module

    return Path(user_cache_dir())
