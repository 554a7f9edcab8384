"""Behaviour events (API guide §7, roadmap 2.2): what the app reports, and what the service
records itself in the transaction of the change it describes.

Every event is kept as it came (`source` says who reported it), for product analysis; the
funnel counts only the ones the service can vouch for (`vouched`): its own, and an app's
report about one of the reporting user's own headshots that was completed when it came in (a
headshot cannot be downloaded or shared before then). An app's report without a headshot, or
about a queued, running or failed one, is kept but not vouched for. The funnel counts each
headshot once per event whoever reported it, however often (`models/analytics._FUNNEL`).
"""

from __future__ import annotations

import enum
import json
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Index,
    String,
    Table,
    exists,
    insert,
    literal,
    select,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base
from models.clock import utcnow


class EventName(enum.StrEnum):
    HEADSHOT_STARTED = "headshot_started"
    HEADSHOT_COMPLETED = "headshot_completed"
    GENERATION_FAILED = "generation_failed"
    HEADSHOT_DOWNLOADED = "headshot_downloaded"
    USER_SHARED = "user_shared"
    STYLE_SELECTED = "style_selected"
    HISTORY_VIEWED = "history_viewed"  # the service's, at most once a user and UTC day


CLIENT_EVENTS = (EventName.HEADSHOT_DOWNLOADED, EventName.USER_SHARED, EventName.STYLE_SELECTED)
# What a user does, as opposed to what the service does to their headshots (a completion, a
# failure): a user with one of these in a range is an active user of it (§8's figures).
ACTIVITY_EVENTS = (EventName.HEADSHOT_STARTED, EventName.HEADSHOT_DOWNLOADED,
                   EventName.USER_SHARED, EventName.STYLE_SELECTED, EventName.HISTORY_VIEWED)


class Source(enum.StrEnum):
    CLIENT = "client"  # the app said so
    SERVICE = "service"  # the service saw it happen


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_name_created_at", "name", "created_at"),
        Index("ix_events_user_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(10))
    user_id: Mapped[int] = mapped_column(BigInteger)
    generation_id: Mapped[int | None] = mapped_column(BigInteger)
    properties: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    # Whether the funnel may count it (the module's docstring); the service's own statements
    # that write events leave it to the default.
    vouched: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def record_history_view(db_session: Session, *, user_id: int) -> None:
    """Note that the user opened their history today, unless already noted (the roadmap's
    "share of users who viewed history": one row a user and day keeps the table small)."""
    today = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    db_session.execute(
        insert(Event).from_select(
            ["name", "source", "user_id", "properties", "created_at"],
            select(literal(EventName.HISTORY_VIEWED.value), literal(Source.SERVICE.value),
                   literal(user_id), literal({}, JSONB), literal(utcnow()))
            .where(~exists().where(Event.name == EventName.HISTORY_VIEWED.value,
                                   Event.user_id == user_id, Event.created_at >= today)),
        ))


# A result's image fetched through its signed media URL: the owner's completed headshot holding
# that key gets the service's `headshot_downloaded`, at most once a UTC day (an <img> refetch,
# a range request or a second result of the same headshot is not another download).
_RECORD_RESULT_DOWNLOAD = text("""
INSERT INTO events (name, source, user_id, generation_id, properties, created_at, vouched)
SELECT 'headshot_downloaded', 'service', g.user_id, g.id,
       jsonb_build_object('via', 'media', 'style', g.style), :now, true
FROM headshot_generations g
WHERE g.user_id = :user_id AND g.deleted_at IS NULL AND g.status = 'completed'
  AND g.result_keys @> CAST(:keys AS jsonb)
  AND NOT EXISTS (SELECT FROM events e
                  WHERE e.user_id = :user_id AND e.generation_id = g.id
                    AND e.name = 'headshot_downloaded' AND e.source = 'service'
                    AND e.properties ->> 'via' = 'media' AND e.created_at >= :today)
LIMIT 1
""")


def record_result_download(db_session: Session, *, user_id: int, result_key: str) -> bool:
    """Note the download of the user's result image, unless noted today; whether it was."""
    now = utcnow()
    result = db_session.execute(_RECORD_RESULT_DOWNLOAD, {
        "user_id": user_id, "keys": json.dumps([result_key]), "now": now,
        "today": now.replace(hour=0, minute=0, second=0, microsecond=0)})
    return bool(result.rowcount)  # type: ignore[attr-defined]


def record_event(db_session: Session, name: EventName, *, user_id: int,
                 generation_id: int | None = None, properties: dict[str, Any] | None = None,
                 source: Source = Source.SERVICE, vouched: bool = True) -> None:
    """Write the event in the caller's transaction.

    A Core INSERT rather than an ORM object: the ORM's would have ridden on the next flush
    anyway (a round trip all the same), through the unit of work's flush machinery, which
    costs the worker far more than the statement itself."""
    db_session.execute(_INSERT_EVENT, {
        "name": name.value, "source": source.value, "user_id": user_id,
        "generation_id": generation_id, "properties": properties or {}, "created_at": utcnow(),
        "vouched": vouched,
    })


# inline(): no RETURNING of the new row's id, which nothing reads (SQLAlchemy otherwise asks
# for it and sets up a result to fetch it, a large part of what this INSERT costs the worker).
_INSERT_EVENT = insert(cast(Table, Event.__table__)).inline()
