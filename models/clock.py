"""The domain's clock: every rule that reads the time reads it here, so a test can move it.

    with frozen_clock(start) as clock:   # tests only
        clock.advance(seconds=2)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta


class Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock(Clock):
    """A clock that stands still until told to move."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, *, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)


_clock: Clock = Clock()


def utcnow() -> datetime:
    return _clock.now()


def now_timestamp() -> float:
    return _clock.now().timestamp()


@contextmanager
def frozen_clock(start: datetime | None = None) -> Iterator[FrozenClock]:
    """Replace the process's clock for the duration of the block (tests)."""
    global _clock
    frozen = FrozenClock(start or datetime.now(UTC))
    previous, _clock = _clock, frozen
    try:
        yield frozen
    finally:
        _clock = previous
