"""What support reads about one user (§14): the account, the ledger with what each entry paid
for, the headshots, the behaviour events, the live share links, the webhook deliveries, the
devices and their push deliveries (§13).

Each list is the latest `limit` rows, newest first; one more is read to tell whether older ones
exist (`Latest.truncated`). Every read is served by an index on the user's id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from models.clock import utcnow
from models.credits import CreditEntry, EntryType
from models.devices import Device, list_devices
from models.events import Event
from models.job.table import Job
from models.outbox import Channel, OutboxEvent, push_deliveries
from models.shares import HeadshotShare
from models.users import User

Row = TypeVar("Row")

# Users sharing one email (an email is not unique: it comes from each token) listed at most.
MAX_SAME_EMAIL = 20


@dataclass(frozen=True)
class Latest(Generic[Row]):
    rows: list[Row]
    truncated: bool  # older rows exist beyond these


@dataclass(frozen=True)
class LedgerLine:
    """A ledger entry, with the headshot it charged or refunded (None for a grant)."""

    entry: CreditEntry
    style: str | None
    status: str | None
    deleted: bool


@dataclass(frozen=True)
class JobCredits:
    """A headshot with the credits that moved for it, every round together."""

    job: Job
    charged: int  # credits taken (a positive number)
    refunded: int


@dataclass(frozen=True)
class LiveShare:
    share: HeadshotShare
    style: str


def latest(db_session: Session, query: Select[*tuple[Any, ...]], *, limit: int,
           row_of: Callable[[Any], Row]) -> Latest[Row]:
    rows = list(db_session.execute(query.limit(limit + 1)))
    return Latest([row_of(row) for row in rows[:limit]], len(rows) > limit)


def user_by_id(db_session: Session, user_id: int) -> User | None:
    return db_session.get(User, user_id)


def users_by_email(db_session: Session, email: str) -> list[User]:
    """The users with this email whatever its case, the newest first."""
    return list(db_session.scalars(
        select(User).where(func.lower(User.email) == email.lower())
        .order_by(User.created_at.desc(), User.id.desc()).limit(MAX_SAME_EMAIL)))


def ledger_of(db_session: Session, user_id: int, *, limit: int) -> Latest[LedgerLine]:
    query = (select(CreditEntry, Job.style, Job.status, Job.deleted_at)
             .outerjoin(Job, Job.id == CreditEntry.generation_id)
             .where(CreditEntry.user_id == user_id)
             .order_by(CreditEntry.id.desc()))
    return latest(db_session, query, limit=limit,
                  row_of=lambda row: LedgerLine(row[0], row[1], row[2], row[3] is not None))


def jobs_of(db_session: Session, user_id: int, *, limit: int) -> Latest[JobCredits]:
    """The user's headshots that are not deleted (a deleted one still shows in the ledger)."""
    charged = func.coalesce(func.sum(case(
        (CreditEntry.type == EntryType.HEADSHOT.value, -CreditEntry.amount), else_=0)), 0)
    refunded = func.coalesce(func.sum(case(
        (CreditEntry.type == EntryType.REFUND.value, CreditEntry.amount), else_=0)), 0)
    moved = (select(CreditEntry.generation_id, charged.label("charged"),
                    refunded.label("refunded"))
             .where(CreditEntry.user_id == user_id, CreditEntry.generation_id.is_not(None))
             .group_by(CreditEntry.generation_id).subquery())
    query = (select(Job, moved.c.charged, moved.c.refunded)
             .outerjoin(moved, moved.c.generation_id == Job.id)
             .where(Job.user_id == user_id, Job.deleted_at.is_(None))
             .order_by(Job.id.desc()))
    return latest(db_session, query, limit=limit,
                  row_of=lambda row: JobCredits(row[0], int(row[1] or 0), int(row[2] or 0)))


def events_of(db_session: Session, user_id: int, *, limit: int) -> Latest[Event]:
    query = select(Event).where(Event.user_id == user_id).order_by(Event.id.desc())
    return latest(db_session, query, limit=limit, row_of=lambda row: row[0])


def live_shares_of(db_session: Session, user_id: int, *, limit: int) -> Latest[LiveShare]:
    """The links that open one of the user's headshots now: neither revoked nor expired, on a
    headshot not deleted."""
    query = (select(HeadshotShare, Job.style)
             .join(Job, Job.id == HeadshotShare.generation_id)
             .where(Job.user_id == user_id, Job.deleted_at.is_(None),
                    HeadshotShare.revoked_at.is_(None), HeadshotShare.expires_at > utcnow())
             .order_by(HeadshotShare.id.desc()))
    return latest(db_session, query, limit=limit, row_of=lambda row: LiveShare(row[0], row[1]))


def deliveries_of(db_session: Session, user_id: int, *, limit: int) -> Latest[OutboxEvent]:
    """The webhook's rows only: the outbox holds the push deliveries too (push_deliveries_of)."""
    query = (select(OutboxEvent)
             .where(OutboxEvent.user_id == user_id,
                    OutboxEvent.channel == Channel.WEBHOOK.value)
             .order_by(OutboxEvent.id.desc()))
    return latest(db_session, query, limit=limit, row_of=lambda row: row[0])


def devices_of(db_session: Session, user_id: int, *, limit: int) -> Latest[Device]:
    """The user's devices, newest first (a user keeps at most MAX_DEVICES, fewer than a list
    holds, so this is all of them)."""
    newest = list_devices(db_session, user_id=user_id)[::-1]
    return Latest(newest[:limit], len(newest) > limit)


def push_deliveries_of(db_session: Session, user_id: int, *,
                       limit: int) -> Latest[OutboxEvent]:
    rows = push_deliveries(db_session, user_id=user_id, limit=limit + 1)
    return Latest(rows[:limit], len(rows) > limit)
