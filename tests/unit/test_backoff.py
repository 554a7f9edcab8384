"""The one backoff rule (models/backoff.py) that GetImg attempts and webhook deliveries share."""

from __future__ import annotations

import random

from models.backoff import backoff_seconds


def _draws(attempt: int, *, first: float, ceiling: float) -> list[float]:
    return [backoff_seconds(attempt, first=first, ceiling=ceiling) for _ in range(2000)]


def test_each_attempt_doubles_the_step_and_draws_from_its_upper_half() -> None:
    random.seed(7)
    for attempt, step in ((1, 5.0), (2, 10.0), (3, 20.0), (4, 40.0)):
        draws = _draws(attempt, first=5.0, ceiling=3600.0)
        assert all(step / 2 <= wait <= step for wait in draws), attempt
        # Jitter: spread over the half-step, not one value for every job that failed together.
        assert max(draws) - min(draws) > step / 2 * 0.9


def test_the_step_stops_at_the_ceiling_however_many_attempts() -> None:
    random.seed(7)
    for attempt in (7, 8, 50, 10_000):
        assert all(30.0 <= wait <= 60.0 for wait in _draws(attempt, first=2.0, ceiling=60.0))


def test_an_attempt_below_one_waits_the_first_step() -> None:
    random.seed(7)
    assert all(1.0 <= wait <= 2.0 for wait in _draws(0, first=2.0, ceiling=60.0))
