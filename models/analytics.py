"""The nightly rollup (contract §9, roadmap 2.1): a day's headshots per style, in one row each.

`roll_up_day` computes the rows from the day's generations and the ledger in one statement and
upserts them on (date, style): running it twice, or on two beats at once, gives the same rows.
A day is its UTC calendar day, by when each headshot was asked for.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    Index,
    Integer,
    Numeric,
    String,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base


class DailyStyleFigures(Base):
    __tablename__ = "headshot_analytics"
    __table_args__ = (Index("uq_headshot_analytics_date_style", "date", "style", unique=True),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    date: Mapped[date] = mapped_column(Date)
    style: Mapped[str] = mapped_column(String(50))
    total_generations: Mapped[int] = mapped_column(Integer)
    completed: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)
    success_rate: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))  # percent of ended
    avg_processing_time: Mapped[int | None] = mapped_column(Integer)  # seconds, rounded
    p50_processing_time: Mapped[Decimal | None] = mapped_column(Numeric(10, 3))
    p95_processing_time: Mapped[Decimal | None] = mapped_column(Numeric(10, 3))
    failures_by_code: Mapped[dict[str, int]] = mapped_column(JSONB)
    getimg_cost: Mapped[Decimal] = mapped_column(Numeric(12, 4))  # USD
    credits_charged: Mapped[int] = mapped_column(Integer)
    credits_refunded: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# The figures of a day and style, as columns of the table and of `_FIGURES`.
FIGURE_COLUMNS = (
    "date", "style", "total_generations", "completed", "failed", "success_rate",
    "avg_processing_time", "p50_processing_time", "p95_processing_time", "failures_by_code",
    "getimg_cost", "credits_charged", "credits_refunded",
)

# Cancelled headshots are neither successes nor failures of the generator.
_FIGURES = """
WITH day AS (
    SELECT g.id, g.style, g.status, g.error_code,
           (g.metadata ->> 'processingTime')::numeric AS seconds,
           COALESCE((g.metadata ->> 'getimgCost')::numeric, 0) AS cost
    FROM headshot_generations g
    WHERE g.created_at >= :start AND g.created_at < :end
), money AS (
    SELECT d.style,
           COALESCE(SUM(-c.amount) FILTER (WHERE c.type = 'headshot'), 0) AS charged,
           COALESCE(SUM(c.amount) FILTER (WHERE c.type = 'refund'), 0) AS refunded
    FROM day d JOIN credit_histories c ON c.generation_id = d.id
    GROUP BY d.style
), failures AS (
    SELECT style, jsonb_object_agg(error_code, n) AS by_code
    FROM (SELECT style, error_code, count(*) AS n FROM day
          WHERE status = 'failed' AND error_code IS NOT NULL GROUP BY style, error_code) f
    GROUP BY style
)
SELECT d.style,
       count(*) AS total_generations,
       count(*) FILTER (WHERE d.status = 'completed') AS completed,
       count(*) FILTER (WHERE d.status = 'failed' AND d.error_code <> 'cancelled') AS failed,
       round(100.0 * count(*) FILTER (WHERE d.status = 'completed')
             / NULLIF(count(*) FILTER (WHERE d.status = 'completed'
                                       OR (d.status = 'failed' AND d.error_code <> 'cancelled')),
                      0), 2) AS success_rate,
       round(avg(d.seconds) FILTER (WHERE d.status = 'completed'))::int AS avg_processing_time,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY d.seconds)
           FILTER (WHERE d.status = 'completed') AS p50_processing_time,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY d.seconds)
           FILTER (WHERE d.status = 'completed') AS p95_processing_time,
       COALESCE(max(f.by_code::text)::jsonb, '{}'::jsonb) AS failures_by_code,
       sum(d.cost) AS getimg_cost,
       COALESCE(max(m.charged), 0) AS credits_charged,
       COALESCE(max(m.refunded), 0) AS credits_refunded
FROM day d
LEFT JOIN money m ON m.style = d.style
LEFT JOIN failures f ON f.style = d.style
GROUP BY d.style
"""

_UPSERT = f"""
INSERT INTO headshot_analytics (date, style, total_generations, completed, failed, success_rate,
    avg_processing_time, p50_processing_time, p95_processing_time, failures_by_code,
    getimg_cost, credits_charged, credits_refunded, computed_at)
SELECT :day, figures.*, now() FROM ({_FIGURES}) figures
ON CONFLICT (date, style) DO UPDATE SET
    total_generations = EXCLUDED.total_generations, completed = EXCLUDED.completed,
    failed = EXCLUDED.failed, success_rate = EXCLUDED.success_rate,
    avg_processing_time = EXCLUDED.avg_processing_time,
    p50_processing_time = EXCLUDED.p50_processing_time,
    p95_processing_time = EXCLUDED.p95_processing_time,
    failures_by_code = EXCLUDED.failures_by_code, getimg_cost = EXCLUDED.getimg_cost,
    credits_charged = EXCLUDED.credits_charged, credits_refunded = EXCLUDED.credits_refunded,
    computed_at = EXCLUDED.computed_at
"""


def roll_up_day(db_session: Session, day: date) -> int:
    """Write the day's rows (one per style with headshots that day); how many."""
    result = db_session.execute(text(_UPSERT), {"day": day, **_window(day, day)})
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def live_day_figures(db_session: Session, day: date) -> list[dict[str, Any]]:
    """The same figures for a day not rolled up yet (today), straight from the live rows."""
    rows = db_session.execute(text(_FIGURES), _window(day, day)).mappings()
    return [dict(row) for row in rows]


def _window(first: date, last: date) -> dict[str, datetime]:
    """From the first day's UTC midnight to the one after the last day, computed here, not in
    SQL: `+ interval '1 day'` would follow the session's time zone across a DST change."""
    return {"start": _utc_midnight(first), "end": _utc_midnight(last) + timedelta(days=1)}


def _utc_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def rolled_up(db_session: Session, first: date, last: date) -> list[DailyStyleFigures]:
    return list(db_session.scalars(
        select(DailyStyleFigures)
        .where(DailyStyleFigures.date >= first, DailyStyleFigures.date <= last)
        .order_by(DailyStyleFigures.date, DailyStyleFigures.style)
    ))


_ACTIVITY = """
WITH jobs AS (
    SELECT user_id, created_at, is_favorite FROM headshot_generations
    WHERE created_at >= :start AND created_at < :end
), per_user AS (SELECT user_id, count(*) AS n, bool_or(is_favorite) AS fav
                FROM jobs GROUP BY user_id)
SELECT (SELECT count(*) FROM per_user) AS users,
       (SELECT count(*) FROM per_user WHERE n >= 2) AS repeat_users,
       (SELECT count(*) FROM per_user WHERE fav) AS favoriting_users,
       (SELECT count(*) FROM per_user WHERE EXISTS (
            SELECT 1 FROM events WHERE events.user_id = per_user.user_id
            AND name = 'history_viewed' AND created_at >= :start AND created_at < :end)
       ) AS history_viewing_users,
       (SELECT count(*) FROM jobs) AS headshots
"""
_PEAK_HOURS = """
SELECT extract(hour FROM created_at AT TIME ZONE 'UTC')::int AS hour, count(*) AS generations
FROM headshot_generations WHERE created_at >= :start AND created_at < :end
GROUP BY 1 ORDER BY 1
"""
# The funnel counts headshots, each once per step: only events the service vouches for, so
# tied to a headshot (models/events.py), and DISTINCT, so that the service's own record of a
# download (an export) or a share (a link) and the app's report of it, or the app's report
# sent twice, are one. The rows themselves are all kept, for product analysis (how often a
# headshot is downloaded), which a unique key on (headshot, event) would have refused.
_FUNNEL = """
SELECT name, count(DISTINCT generation_id) AS n FROM events
WHERE created_at >= :start AND created_at < :end AND vouched AND generation_id IS NOT NULL
  AND name IN ('headshot_started', 'headshot_completed', 'headshot_downloaded', 'user_shared')
GROUP BY name
"""


def activity(db_session: Session, first: date, last: date) -> dict[str, Any]:
    """Users, repeat users, favoriting users, headshots, peak hours and the funnel of the
    range, from the live rows (the rollup does not keep users or hours)."""
    window = _window(first, last)
    figures = dict(db_session.execute(text(_ACTIVITY), window).mappings().one())
    figures["peak_hours"] = [dict(row) for row in
                             db_session.execute(text(_PEAK_HOURS), window).mappings()]
    figures["funnel"] = {row.name: row.n for row in db_session.execute(text(_FUNNEL), window)}
    return figures
