"""Learning-rate schedules as pure functions of the step, so a resume needs no scheduler state.

The factor multiplies the configured lr_g and lr_d. A decay runs over the run's last ``decay_steps``
steps (all of them by default); extending a run with ``--resume --steps`` lays it over the new total from
that point on. A decay over the last steps only, after a long constant stretch, is the "polish" that
lowered the lean DCGAN's FID (docs/quality.md).
"""

from __future__ import annotations

import math

from .errors import GanforgeError

SCHEDULES = ("constant", "linear", "cosine")


def lr_factor(schedule: str, step: int, total: int, decay_steps: int | None = None) -> float:
    """The learning-rate multiplier for 0-based ``step`` of ``total``: 1 until the decay starts, at step
    ``total - decay_steps`` (0 when ``decay_steps`` is None); from there ``linear`` falls to 0 at ``total``
    in a straight line, ``cosine`` along half a cosine."""
    if schedule == "constant":
        return 1.0
    span = total if decay_steps is None else decay_steps
    t = min(max((step - (total - span)) / max(span, 1), 0.0), 1.0)
    if schedule == "linear":
        return 1.0 - t
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * t))
    raise GanforgeError(f"lr_schedule must be one of {', '.join(SCHEDULES)}; got {schedule!r}")
