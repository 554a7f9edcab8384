"""The outbox of completion notices: an event is a row written in the transaction that ends
the job (or the batch), so none is lost; a task delivers it later, at least once, for up to a
day. A row goes out on one channel: the webhook (one row per event), or a push notification
(one row per device of the user, `device_id`; services/push.py), so each device's delivery is
retried, and ends, on its own.

A delivery attempt claims its row with a conditional UPDATE that sets a lease
(`locked_until`), so two workers (a retry and the sweeper's re-enqueue) never send the same
event at once; a worker that dies leaves the lease to run out and the row to the next attempt.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime, timedelta

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    Index,
    Integer,
    String,
    Text,
    and_,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base
from models.clock import utcnow

DELIVERY_WINDOW = timedelta(hours=24)
LEASE = timedelta(seconds=60)


class EventType(enum.StrEnum):
    HEADSHOT_COMPLETED = "headshot.completed"
    HEADSHOT_FAILED = "headshot.failed"
    HEADSHOT_CANCELLED = "headshot.cancelled"
    BATCH_COMPLETED = "batch.completed"
    BATCH_PARTIAL = "batch.partial"
    BATCH_FAILED = "batch.failed"


class Channel(enum.StrEnum):
    WEBHOOK = "webhook"
    PUSH = "push"


class OutboxEvent(Base):
    __tablename__ = "webhook_outbox"
    __table_args__ = (
        Index("uq_webhook_outbox_message_id", "message_id", unique=True),
        Index("ix_webhook_outbox_pending", "next_attempt_at",
              postgresql_where=text("delivered_at IS NULL AND gave_up_at IS NULL")),
        Index("ix_webhook_outbox_user_id_id", "user_id", text("id DESC")),  # support (§14)
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(64))  # `webhook-id`, the same on every retry
    event_type: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(10), default=Channel.WEBHOOK.value,
                                         server_default=Channel.WEBHOOK.value)
    device_id: Mapped[int | None] = mapped_column(BigInteger)  # push: the device it goes to
    user_id: Mapped[int] = mapped_column(BigInteger)
    generation_id: Mapped[int | None] = mapped_column(BigInteger)
    batch_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    gave_up_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)


def add_event(db_session: Session, event_type: EventType, *, user_id: int,
              generation_id: int | None = None, batch_id: uuid.UUID | None = None,
              channel: Channel = Channel.WEBHOOK, device_id: int | None = None) -> int:
    """Write an event in the caller's transaction; its id, for the after-commit kick."""
    now = utcnow()
    event = OutboxEvent(message_id=f"msg_{uuid.uuid4().hex}", event_type=event_type.value,
                        user_id=user_id, generation_id=generation_id, batch_id=batch_id,
                        channel=channel.value, device_id=device_id,
                        created_at=now, next_attempt_at=now)
    db_session.add(event)
    db_session.flush()
    return event.id


def _due(now: datetime) -> ColumnElement[bool]:
    """Undelivered, not given up, due, and held by no attempt."""
    return and_(
        OutboxEvent.delivered_at.is_(None), OutboxEvent.gave_up_at.is_(None),
        OutboxEvent.next_attempt_at <= now,
        or_(OutboxEvent.locked_until.is_(None), OutboxEvent.locked_until < now),
    )


def claim_event(db_session: Session, event_id: int,
                channel: Channel = Channel.WEBHOOK) -> OutboxEvent | None:
    """Lease a due, undelivered event of the channel for one delivery attempt; None if it is
    not due, already delivered, given up, leased by another attempt, or another channel's."""
    now = utcnow()
    return db_session.execute(
        update(OutboxEvent)
        .where(OutboxEvent.id == event_id, OutboxEvent.channel == channel.value, _due(now))
        .values(locked_until=now + LEASE, attempts=OutboxEvent.attempts + 1)
        .returning(OutboxEvent)
        .execution_options(synchronize_session=False, populate_existing=True)
    ).scalar_one_or_none()


def mark_delivered(db_session: Session, event_id: int) -> None:
    db_session.execute(update(OutboxEvent).where(OutboxEvent.id == event_id)
                       .values(delivered_at=utcnow(), locked_until=None, last_error=None))


def mark_failed_attempt(db_session: Session, event: OutboxEvent, *, retry_in: timedelta,
                        error: str, give_up: bool = False) -> datetime | None:
    """Schedule the next attempt; or, past the delivery window (or told to), give up. The next
    attempt's time, or None once given up."""
    now = utcnow()
    next_at = now + retry_in
    gave_up = give_up or next_at > event.created_at + DELIVERY_WINDOW
    db_session.execute(
        update(OutboxEvent).where(OutboxEvent.id == event.id).values(
            locked_until=None, last_error=error[:1000], next_attempt_at=next_at,
            gave_up_at=now if gave_up else None,
        )
    )
    return None if gave_up else next_at


def due_event_ids(db_session: Session, *, channel: Channel = Channel.WEBHOOK,
                  limit: int = 500) -> list[int]:
    """Events of the channel due for a delivery attempt (the sweeper re-enqueues them)."""
    now = utcnow()
    return list(db_session.scalars(
        select(OutboxEvent.id)
        .where(_due(now), OutboxEvent.channel == channel.value)
        .order_by(OutboxEvent.next_attempt_at)
        .limit(limit)
    ))


def push_deliveries(db_session: Session, *, user_id: int,
                    limit: int = 50) -> list[OutboxEvent]:
    """The user's push deliveries, newest first: to which device, tried how often, delivered
    or given up, the last error (what support looks up)."""
    return list(db_session.scalars(
        select(OutboxEvent)
        .where(OutboxEvent.user_id == user_id, OutboxEvent.channel == Channel.PUSH.value)
        .order_by(OutboxEvent.id.desc()).limit(limit)))


def pending_backlog(db_session: Session) -> tuple[int, datetime | None]:
    """Events neither delivered nor given up on: how many, and when the oldest was written."""
    count, oldest = db_session.execute(
        select(func.count(), func.min(OutboxEvent.created_at))
        .where(OutboxEvent.delivered_at.is_(None), OutboxEvent.gave_up_at.is_(None))
    ).one()
    return int(count), oldest
