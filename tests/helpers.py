"""Helpers shared by tests in every folder (tests/ is on sys.path through its conftest.py)."""

from __future__ import annotations

from typing import Any

from ganforge.config import RunConfig, TrainConfig
from ganforge.resolve import DataFacts, resolve

DIGITS = [str(i) for i in range(10)]


def resolved(*, facts: DataFacts | None = None, **fields: Any) -> RunConfig:
    """The complete config of a request without loading any data: by default the facts of MNIST's train split
    (60,000 images, ten classes), or the ``facts`` given."""
    request = TrainConfig(**fields)
    return resolve(request, facts or DataFacts(request.dataset or "mnist", 60_000, 10, DIGITS))
