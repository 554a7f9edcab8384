"""The analytics figures, as docs/analytics.md (linked from §8) defines them: the nightly
rollup of a day's figures per style, in one row each, and the range's figures about users,
read live.

Every record is counted on the UTC day of its own time, never of the headshot it belongs to: a
round's end on the day of its event (`headshot_completed`, `generation_failed`), a GetImg
call's cost on the day it ended (`getimg_calls`), a credit movement on the day of its ledger
row, a headshot asked for on the day of its `headshot_started`. Those records are written once
and never change, so a day's figures are final once the day is over, whatever happens to its
headshots later (a retry, a refund, a deletion lands on its own day). `roll_up_day` computes
the rows in one statement and upserts them on (date, style): running it twice, or on two beats
at once, gives the same rows.
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
from models.events import ACTIVITY_EVENTS


class DailyStyleFigures(Base):
    __tablename__ = "headshot_analytics"
    __table_args__ = (Index("uq_headshot_analytics_date_style", "date", "style", unique=True),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    date: Mapped[date] = mapped_column(Date)
    style: Mapped[str] = mapped_column(String(50))
    total_generations: Mapped[int] = mapped_column(Integer)  # headshots asked for
    completed: Mapped[int] = mapped_column(Integer)  # rounds that ended completed
    failed: Mapped[int] = mapped_column(Integer)  # rounds the generator failed (not cancels)
    success_rate: Mapped[Decimal | None] = mapped_column(Numeric(5, 4))  # fraction, 0 to 1
    avg_processing_time: Mapped[int | None] = mapped_column(Integer)  # seconds, rounded
    p50_processing_time: Mapped[Decimal | None] = mapped_column(Numeric(10, 3))
    p95_processing_time: Mapped[Decimal | None] = mapped_column(Numeric(10, 3))
    failures_by_code: Mapped[dict[str, int]] = mapped_column(JSONB)  # failed rounds, cancels too
    getimg_cost: Mapped[Decimal] = mapped_column(Numeric(12, 4))  # USD, every billed call
    credits_charged: Mapped[int] = mapped_column(Integer)
    credits_refunded: Mapped[int] = mapped_column(Integer)
    cancelled: Mapped[int] = mapped_column(Integer, server_default="0")  # rounds cancelled
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# The figures of a day and style, as columns of the table and of `_FIGURES`, in its order.
FIGURE_COLUMNS = (
    "style", "total_generations", "completed", "failed", "success_rate",
    "avg_processing_time", "p50_processing_time", "p95_processing_time", "failures_by_code",
    "getimg_cost", "credits_charged", "credits_refunded", "cancelled",
)

# A round ends exactly once, with one event: `headshot_completed` or `generation_failed`
# (code `cancelled` for a cancel, which is neither a success nor a failure of the generator).
# A round that failed and was then retried stays a failure on its day; the retry's round ends
# on its own. The legacy cost: completions from before the call ledger carry their call's cost
# only in their metadata.
_FIGURES = """
WITH started AS (
    SELECT g.style, count(*) AS n
    FROM events e JOIN headshot_generations g ON g.id = e.generation_id
    WHERE e.name = 'headshot_started' AND e.source = 'service'
      AND e.created_at >= :start AND e.created_at < :end
    GROUP BY g.style
), endings AS (
    SELECT g.style, g.id, e.name, e.properties ->> 'code' AS code,
           CASE WHEN e.name = 'headshot_completed'
                THEN (g.metadata ->> 'processingTime')::numeric END AS seconds,
           CASE WHEN e.name = 'headshot_completed'
                THEN (g.metadata ->> 'getimgCost')::numeric END AS metadata_cost
    FROM events e JOIN headshot_generations g ON g.id = e.generation_id
    WHERE e.name IN ('headshot_completed', 'generation_failed') AND e.source = 'service'
      AND e.created_at >= :start AND e.created_at < :end
), rounds AS (
    SELECT style,
           count(*) FILTER (WHERE name = 'headshot_completed') AS completed,
           count(*) FILTER (WHERE name = 'generation_failed'
                            AND code IS DISTINCT FROM 'cancelled') AS failed,
           count(*) FILTER (WHERE name = 'generation_failed' AND code = 'cancelled') AS cancelled,
           round(avg(seconds))::int AS avg_seconds,
           round(percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds)::numeric, 3) AS p50,
           round(percentile_cont(0.95) WITHIN GROUP (ORDER BY seconds)::numeric, 3) AS p95
    FROM endings GROUP BY style
), failures AS (
    SELECT style, jsonb_object_agg(code, n) AS by_code
    FROM (SELECT style, code, count(*) AS n FROM endings
          WHERE name = 'generation_failed' AND code IS NOT NULL GROUP BY style, code) f
    GROUP BY style
), calls AS (
    SELECT style, sum(cost) AS cost FROM getimg_calls
    WHERE ended_at >= :start AND ended_at < :end GROUP BY style
), legacy AS (
    SELECT style, sum(metadata_cost) AS cost FROM endings
    WHERE metadata_cost IS NOT NULL
      AND NOT EXISTS (SELECT FROM getimg_calls c WHERE c.generation_id = endings.id)
    GROUP BY style
), money AS (
    SELECT g.style,
           COALESCE(SUM(-c.amount) FILTER (WHERE c.type = 'headshot'), 0) AS charged,
           COALESCE(SUM(c.amount) FILTER (WHERE c.type = 'refund'), 0) AS refunded
    FROM credit_histories c JOIN headshot_generations g ON g.id = c.generation_id
    WHERE c.created_at >= :start AND c.created_at < :end
    GROUP BY g.style
), day_styles AS (
    SELECT style FROM started UNION SELECT style FROM rounds
    UNION SELECT style FROM calls UNION SELECT style FROM money
)
SELECT s.style,
       COALESCE(st.n, 0) AS total_generations,
       COALESCE(r.completed, 0) AS completed,
       COALESCE(r.failed, 0) AS failed,
       round(r.completed::numeric / NULLIF(r.completed + r.failed, 0), 4) AS success_rate,
       r.avg_seconds AS avg_processing_time,
       r.p50 AS p50_processing_time,
       r.p95 AS p95_processing_time,
       COALESCE(f.by_code, '{}'::jsonb) AS failures_by_code,
       COALESCE(ca.cost, 0) + COALESCE(l.cost, 0) AS getimg_cost,
       COALESCE(m.charged, 0) AS credits_charged,
       COALESCE(m.refunded, 0) AS credits_refunded,
       COALESCE(r.cancelled, 0) AS cancelled
FROM day_styles s
LEFT JOIN started st ON st.style = s.style
LEFT JOIN rounds r ON r.style = s.style
LEFT JOIN failures f ON f.style = s.style
LEFT JOIN calls ca ON ca.style = s.style
LEFT JOIN legacy l ON l.style = s.style
LEFT JOIN money m ON m.style = s.style
"""

_UPSERT = f"""
INSERT INTO headshot_analytics (date, {", ".join(FIGURE_COLUMNS)}, computed_at)
SELECT :day, figures.*, now() FROM ({_FIGURES}) figures
ON CONFLICT (date, style) DO UPDATE SET
    {", ".join(f"{column} = EXCLUDED.{column}" for column in FIGURE_COLUMNS[1:])},
    computed_at = EXCLUDED.computed_at
"""


def roll_up_day(db_session: Session, day: date) -> int:
    """Write the day's rows (one per style with anything that day); how many."""
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


# The range's users. A request is one batch (its styles are one request) or one single
# generate; a repeat user made two requests or more in the range. Active users did something
# in the range the service saw (models/events.ACTIVITY_EVENTS).
_ACTIVITY = """
WITH jobs AS (
    SELECT id, user_id, batch_id, is_favorite FROM headshot_generations
    WHERE created_at >= :start AND created_at < :end
), per_user AS (
    SELECT user_id, count(*) AS headshots,
           count(DISTINCT COALESCE(batch_id::text, 'headshot ' || id)) AS requests,
           bool_or(is_favorite) AS fav
    FROM jobs GROUP BY user_id
)
SELECT (SELECT count(*) FROM per_user) AS users,
       (SELECT count(*) FROM per_user WHERE requests >= 2) AS repeat_users,
       (SELECT count(*) FROM per_user WHERE fav) AS favoriting_users,
       (SELECT COALESCE(sum(requests), 0)::int FROM per_user) AS requests,
       (SELECT count(*) FROM jobs) AS headshots,
       (SELECT count(DISTINCT user_id) FROM events
        WHERE name = ANY(:active_names) AND created_at >= :start AND created_at < :end
       ) AS active_users,
       (SELECT count(DISTINCT user_id) FROM events
        WHERE name = 'history_viewed' AND created_at >= :start AND created_at < :end
       ) AS history_viewing_users
"""
_ACTIVE_PER_DAY = """
SELECT (created_at AT TIME ZONE 'UTC')::date AS day, count(DISTINCT user_id) AS users
FROM events WHERE name = ANY(:active_names) AND created_at >= :start AND created_at < :end
GROUP BY 1 ORDER BY 1
"""
_PEAK_HOURS = """
SELECT extract(hour FROM created_at AT TIME ZONE 'UTC')::int AS hour, count(*) AS generations
FROM headshot_generations WHERE created_at >= :start AND created_at < :end
GROUP BY 1 ORDER BY 1
"""
# The funnel counts headshots, each once per step: only events the service vouches for, so
# tied to a headshot (models/events.py), and DISTINCT, so that the service's own record of a
# download (an export, a ZIP, a result's media URL) or a share (a link) and the app's report
# of it, or the app's report sent twice, are one. The rows themselves are all kept, for
# product analysis (how often a headshot is downloaded), which a unique key on (headshot,
# event) would have refused.
_FUNNEL = """
SELECT name, count(DISTINCT generation_id) AS n FROM events
WHERE created_at >= :start AND created_at < :end AND vouched AND generation_id IS NOT NULL
  AND name IN ('headshot_started', 'headshot_completed', 'headshot_downloaded', 'user_shared')
GROUP BY name
"""
# Style choice against style generated: the app's `style_selected` reports naming a known
# style, and the headshots asked for in it, each as events and as distinct users.
_STYLE_CHOICE = """
WITH selected AS (
    SELECT e.properties ->> 'style' AS style, count(*) AS n, count(DISTINCT e.user_id) AS users
    FROM events e
    WHERE e.name = 'style_selected' AND e.created_at >= :start AND e.created_at < :end
    GROUP BY 1
), generated AS (
    SELECT style, count(*) AS n, count(DISTINCT user_id) AS users FROM headshot_generations
    WHERE created_at >= :start AND created_at < :end GROUP BY style
)
SELECT s.id AS style, COALESCE(sel.n, 0) AS selections, COALESCE(sel.users, 0) AS selecting_users,
       COALESCE(gen.n, 0) AS generated, COALESCE(gen.users, 0) AS generating_users
FROM styles s
LEFT JOIN selected sel ON sel.style = s.id
LEFT JOIN generated gen ON gen.style = s.id
WHERE sel.n IS NOT NULL OR gen.n IS NOT NULL
ORDER BY s.id
"""


# The range's processing times: every round completed in it, by its completion's time.
_PROCESSING = """
SELECT round(avg(seconds), 3) AS average,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds)::numeric, 3) AS p50,
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY seconds)::numeric, 3) AS p95
FROM (SELECT (g.metadata ->> 'processingTime')::numeric AS seconds
      FROM events e JOIN headshot_generations g ON g.id = e.generation_id
      WHERE e.name = 'headshot_completed' AND e.source = 'service'
        AND e.created_at >= :start AND e.created_at < :end) completed
"""


def activity(db_session: Session, first: date, last: date) -> dict[str, Any]:
    """The range's users, requests, active users (in all and per day), peak hours, funnel and
    style choice, from the live rows (the rollup keeps neither users nor hours)."""
    window: dict[str, Any] = {**_window(first, last),
                              "active_names": [name.value for name in ACTIVITY_EVENTS]}
    figures = dict(db_session.execute(text(_ACTIVITY), window).mappings().one())
    figures["active_per_day"] = [dict(row) for row in
                                 db_session.execute(text(_ACTIVE_PER_DAY), window).mappings()]
    figures["peak_hours"] = [dict(row) for row in
                             db_session.execute(text(_PEAK_HOURS), window).mappings()]
    figures["funnel"] = {row.name: row.n for row in db_session.execute(text(_FUNNEL), window)}
    figures["style_choice"] = [dict(row) for row in
                               db_session.execute(text(_STYLE_CHOICE), window).mappings()]
    figures["processing"] = dict(db_session.execute(text(_PROCESSING), window).mappings().one())
    return figures
