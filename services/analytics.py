"""Analytics for operators: the nightly rollup, its backfill (contract §9), and the report the
analytics route and the dashboard show (contract §8)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from models.analytics import (
    FIGURE_COLUMNS,
    DailyStyleFigures,
    activity,
    live_day_figures,
    roll_up_day,
    rolled_up,
)
from models.clock import utcnow
from services.unit_of_work import read_only, unit_of_work

# The nightly run rolls up the last few days again: a job still running at midnight, or one
# retried the day after, lands in its day's figures on a later night.
NIGHTLY_DAYS = 3


def roll_up_recent() -> int:
    """The nightly job: the last NIGHTLY_DAYS UTC days before today (an upsert: harmless)."""
    today = utcnow().date()
    return backfill(today - timedelta(days=NIGHTLY_DAYS), today - timedelta(days=1))


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


@dataclass(frozen=True)
class Report:
    daily: list[dict[str, Any]]  # one per day and style: rolled-up days, today live
    styles: list[dict[str, Any]]  # the range per style
    activity: dict[str, Any]  # users, repeat users, peak hours, funnel (live rows)


def report(first: date, last: date) -> Report:
    today = utcnow().date()
    with read_only() as db_session:
        stored = [_figures_of(row) for row in rolled_up(db_session, first, min(last, today))
                  if row.date < today]
        rolled = {row["date"] for row in stored}
        # Today, and any past day never rolled up (the beat missed it, or no job ran), live.
        live = [{"date": day, **row} for day in days(first, min(last, today))
                if day not in rolled for row in live_day_figures(db_session, day)]
        daily = sorted(stored + live, key=lambda row: (row["date"], row["style"]))
        return Report(daily, _per_style(daily), activity(db_session, first, last))


def _figures_of(row: DailyStyleFigures) -> dict[str, Any]:
    return {column: getattr(row, column) for column in FIGURE_COLUMNS}


def _per_style(daily: list[dict[str, Any]]) -> list[dict[str, Any]]:
    styles: dict[str, dict[str, Any]] = {}
    for day in daily:
        total = styles.setdefault(day["style"], {
            "style": day["style"], "total_generations": 0, "completed": 0, "failed": 0,
            "seconds": 0.0, "getimg_cost": Decimal(0), "credits_charged": 0,
            "credits_refunded": 0})
        for name in ("total_generations", "completed", "failed", "credits_charged",
                     "credits_refunded"):
            total[name] += day[name]
        total["getimg_cost"] += day["getimg_cost"] or 0
        total["seconds"] += float(day["avg_processing_time"] or 0) * day["completed"]
    for total in styles.values():
        ended = total["completed"] + total["failed"]
        total["success_rate"] = round(100 * total["completed"] / ended, 2) if ended else None
        seconds = total.pop("seconds")
        total["avg_processing_time"] = round(seconds / total["completed"]) \
            if total["completed"] else None
    return sorted(styles.values(), key=lambda style: -style["total_generations"])
