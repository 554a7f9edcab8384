"""Support lookups (§14): one user's account as an operator answering "where did my credits
go?" needs it, each look written to the audit log (who looked at whom, when, what they
searched for), a look that found nobody included."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from models.audit import record_lookup
from models.devices import Device
from models.errors import NotFound
from models.events import Event
from models.outbox import OutboxEvent
from models.support_reads import (
    JobCredits,
    Latest,
    LedgerLine,
    LiveShare,
    deliveries_of,
    devices_of,
    events_of,
    jobs_of,
    ledger_of,
    live_shares_of,
    push_deliveries_of,
    user_by_id,
    users_by_email,
)
from models.users import User
from services.unit_of_work import unit_of_work

# Rows of each list: the latest ones; `truncated` says when older ones exist.
LIST_LIMIT = 100


@dataclass(frozen=True)
class UserFile:
    """What support sees of one user."""

    user: User
    same_email_user_ids: list[int]  # other users with the email (a lookup by email only)
    ledger: Latest[LedgerLine]
    headshots: Latest[JobCredits]
    events: Latest[Event]
    share_links: Latest[LiveShare]
    webhook_deliveries: Latest[OutboxEvent]
    devices: Latest[Device]  # where push notifications go (§13)
    push_deliveries: Latest[OutboxEvent]  # one per device and ending, each tried on its own


def look_up_user(*, operator_id: int, user_id: int) -> UserFile:
    """The user's file; NotFound (audited all the same) when no such user exists."""
    with unit_of_work() as db_session:
        user = user_by_id(db_session, user_id)
        record_lookup(db_session, operator_id=operator_id,
                      user_id=user.id if user else None, searched=f"userId={user_id}")
        found = _file_of(db_session, user, []) if user else None
        db_session.commit()
    if found is None:
        raise NotFound(f"user {user_id} not found")
    return found


def look_up_email(*, operator_id: int, email: str) -> UserFile:
    """The file of the newest user with this email (case aside), listing any others with it;
    NotFound (audited all the same) when nobody has it."""
    with unit_of_work() as db_session:
        users = users_by_email(db_session, email)
        record_lookup(db_session, operator_id=operator_id,
                      user_id=users[0].id if users else None, searched=f"email={email}")
        found = _file_of(db_session, users[0], [u.id for u in users[1:]]) if users else None
        db_session.commit()
    if found is None:
        raise NotFound("no user has this email")  # the email itself is not echoed
    return found


def _file_of(db_session: Session, user: User, same_email: list[int]) -> UserFile:
    return UserFile(
        user=user,
        same_email_user_ids=same_email,
        ledger=ledger_of(db_session, user.id, limit=LIST_LIMIT),
        headshots=jobs_of(db_session, user.id, limit=LIST_LIMIT),
        events=events_of(db_session, user.id, limit=LIST_LIMIT),
        share_links=live_shares_of(db_session, user.id, limit=LIST_LIMIT),
        webhook_deliveries=deliveries_of(db_session, user.id, limit=LIST_LIMIT),
        devices=devices_of(db_session, user.id, limit=LIST_LIMIT),
        push_deliveries=push_deliveries_of(db_session, user.id, limit=LIST_LIMIT),
    )
