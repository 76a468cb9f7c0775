"""Learning-rate schedules are pure functions of the step."""

import math

import pytest

from ganforge import GanforgeError
from ganforge.schedule import lr_factor


def test_schedule_values():
    assert [lr_factor("constant", s, 10) for s in (0, 5, 10)] == [1.0, 1.0, 1.0]
    assert [lr_factor("linear", s, 10) for s in (0, 5, 10, 12)] == [1.0, 0.5, 0.0, 0.0]
    assert lr_factor("cosine", 0, 10) == 1.0
    assert lr_factor("cosine", 5, 10) == pytest.approx(0.5)
    assert lr_factor("cosine", 10, 10) == pytest.approx(0.0, abs=1e-12)
    assert lr_factor("cosine", 2, 10) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.2)))


def test_decay_over_the_last_steps_only():
    # 10 steps, decay over the last 4: constant through step 6, then down to 0 at step 10.
    assert [lr_factor("linear", s, 10, 4) for s in (0, 5, 6, 7, 8, 10)] == [1.0, 1.0, 1.0, 0.75, 0.5, 0.0]
    assert lr_factor("cosine", 3, 10, 4) == 1.0
    assert lr_factor("cosine", 8, 10, 4) == pytest.approx(0.5)
    assert lr_factor("linear", 5, 10, 10) == lr_factor("linear", 5, 10) == 0.5  # the whole run, as by default
    assert lr_factor("constant", 9, 10, 4) == 1.0


def test_unknown_schedule():
    with pytest.raises(GanforgeError, match="lr_schedule must be one of"):
        lr_factor("step", 1, 10)
