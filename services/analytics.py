"""Analytics for operators: the nightly rollup and its backfill (contract §9)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, timedelta

from models.analytics import roll_up_day
from models.clock import utcnow
from services.unit_of_work import unit_of_work


def yesterday() -> date:
    return (utcnow() - timedelta(days=1)).date()


def roll_up(day: date) -> int:
    """Roll one UTC day up into `headshot_analytics` (idempotent); the rows written."""
    with unit_of_work() as db_session:
        written = roll_up_day(db_session, day)
        db_session.commit()
    return written


def days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def backfill(first: date, last: date, *, each: Callable[[date, int], None] = lambda *_: None
             ) -> int:
    """Roll up every day from `first` to `last` inclusive, one transaction a day."""
    total = 0
    for day in days(first, last):
        written = roll_up(day)
        each(day, written)
        total += written
    return total
