"""Learning-rate schedules as pure functions of the step, so a resume needs no scheduler state.

The factor multiplies the configured lr_g and lr_d. It runs over the run's total steps: extending a
finished run with ``--resume --steps`` stretches a decaying schedule from that point on.
"""

from __future__ import annotations

import math

from .errors import GanforgeError

SCHEDULES = ("constant", "linear", "cosine")


def lr_factor(schedule: str, step: int, total: int) -> float:
    """The learning-rate multiplier for 0-based ``step`` of ``total``: 1 at step 0 for every schedule;
    ``linear`` falls to 0 at ``total`` in a straight line, ``cosine`` along half a cosine."""
    if schedule == "constant":
        return 1.0
    t = min(max(step / max(total, 1), 0.0), 1.0)
    if schedule == "linear":
        return 1.0 - t
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * t))
    raise GanforgeError(f"lr_schedule must be one of {', '.join(SCHEDULES)}; got {schedule!r}")
