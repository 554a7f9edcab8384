"""Analytics for operators: the nightly rollup, its backfill (API guide §9), and the report the
analytics route and the dashboard show (API guide §8)."""

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

# Every figure counts its records on their own day (models/analytics.py), so a day is final
# once it is over: a late change (a retry, a refund) lands on the day it happens. The nightly
# run still rolls up the last few days, for a beat missed and for transactions that were
# committing at midnight.
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
    trend: list[dict[str, Any]]  # every day of the range: headshots asked for, active users
    failures_by_code: dict[str, int]  # the range's failed rounds per code, cancels too


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
        figures = activity(db_session, first, last)
    return Report(daily, _per_style(daily), figures, _trend(first, last, daily, figures),
                  _failures(daily))


def _trend(first: date, last: date, daily: list[dict[str, Any]],
           figures: dict[str, Any]) -> list[dict[str, Any]]:
    headshots: dict[date, int] = {}
    for row in daily:
        headshots[row["date"]] = headshots.get(row["date"], 0) + row["total_generations"]
    active = {row["day"]: row["users"] for row in figures["active_per_day"]}
    return [{"date": day, "headshots": headshots.get(day, 0), "active_users": active.get(day, 0)}
            for day in days(first, last)]


def _failures(daily: list[dict[str, Any]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for row in daily:
        for code, count in (row["failures_by_code"] or {}).items():
            total[code] = total.get(code, 0) + count
    return dict(sorted(total.items(), key=lambda item: (-item[1], item[0])))


def _figures_of(row: DailyStyleFigures) -> dict[str, Any]:
    return {"date": row.date, **{column: getattr(row, column) for column in FIGURE_COLUMNS}}


def _per_style(daily: list[dict[str, Any]]) -> list[dict[str, Any]]:
    styles: dict[str, dict[str, Any]] = {}
    for day in daily:
        total = styles.setdefault(day["style"], {
            "style": day["style"], "total_generations": 0, "completed": 0, "failed": 0,
            "cancelled": 0, "seconds": 0.0, "getimg_cost": Decimal(0), "credits_charged": 0,
            "credits_refunded": 0})
        for name in ("total_generations", "completed", "failed", "cancelled",
                     "credits_charged", "credits_refunded"):
            total[name] += day[name]
        total["getimg_cost"] += day["getimg_cost"] or 0
        total["seconds"] += float(day["avg_processing_time"] or 0) * day["completed"]
    for total in styles.values():
        ended = total["completed"] + total["failed"]
        total["success_rate"] = round(total["completed"] / ended, 4) if ended else None
        seconds = total.pop("seconds")
        total["avg_processing_time"] = round(seconds / total["completed"]) \
            if total["completed"] else None
    return sorted(styles.values(), key=lambda style: -style["total_generations"])
