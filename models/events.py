"""Behaviour events (contract §7, roadmap 2.2): what the app reports, and what the service
records itself in the transaction of the change it describes."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Index, String
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


CLIENT_EVENTS = (EventName.HEADSHOT_DOWNLOADED, EventName.USER_SHARED, EventName.STYLE_SELECTED)


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
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def record_event(db_session: Session, name: EventName, *, user_id: int,
                 generation_id: int | None = None, properties: dict[str, Any] | None = None,
                 source: Source = Source.SERVICE) -> None:
    """Add the event to the caller's transaction (no flush: it rides on the next one)."""
    db_session.add(Event(name=name.value, source=source.value, user_id=user_id,
                         generation_id=generation_id, properties=properties or {},
                         created_at=utcnow()))
