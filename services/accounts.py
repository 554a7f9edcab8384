"""A user's account and credits: the balance, the ledger; an operator's grants and refunds, each
written to the audit log in the transaction of its ledger movement."""

from __future__ import annotations

from dataclasses import dataclass

from config import get_settings
from models.audit import Action, AuditEntry, list_actions, record_action
from models.credits import CreditEntry, EntryType, grant_credits, list_entries
from models.devices import Device, Platform, list_devices, push_platforms
from models.refunds import refund_by_operator
from models.users import User, ensure_user
from services import flags
from services.pagination import Page, one_page
from services.unit_of_work import read_only, unit_of_work


@dataclass(frozen=True)
class PushSetup:
    """What a client needs to subscribe a device to push notifications (§13)."""

    platforms: frozenset[Platform]  # the ones whose provider is set up
    web_push_key: str | None  # the VAPID public key (applicationServerKey); None: Web Push off


@dataclass(frozen=True)
class Account:
    user: User
    devices: list[Device]  # where its push notifications go (§13)
    features: dict[str, bool]  # every feature flag's answer for the user (§14)
    push: PushSetup


def account(*, user_id: int, email: str | None) -> Account:
    """The caller's account, created with 0 credits the first time it is seen, its devices,
    the features on for them and how to subscribe a device."""
    with unit_of_work() as db_session:
        user = ensure_user(db_session, user_id=user_id, email=email)
        devices = list_devices(db_session, user_id=user_id)
        db_session.commit()
    push = PushSetup(push_platforms(), get_settings().vapid_public_key)
    return Account(user, devices, flags.features(user_id), push)


def credit_history(*, user_id: int, entry_type: EntryType | None, limit: int,
                   before_id: int | None) -> Page[CreditEntry]:
    with read_only() as db_session:
        return one_page(
            lambda count: list_entries(db_session, user_id=user_id, entry_type=entry_type,
                                       limit=count, before_id=before_id),
            limit=limit,
        )


def grant(*, operator_id: int, user_id: int, amount: int, reason: str) -> CreditEntry:
    """An operator's grant; the user is created if new."""
    with unit_of_work() as db_session:
        ensure_user(db_session, user_id=user_id)
        entry = grant_credits(db_session, user_id=user_id, amount=amount, reason=reason)
        record_action(db_session, Action.GRANT, operator_id=operator_id, entry=entry,
                      reason=reason)
        db_session.commit()
        return entry


def refund(*, operator_id: int, job_id: int, reason: str) -> CreditEntry:
    """An operator's refund of a completed headshot's current round (once: 409 after)."""
    with unit_of_work() as db_session:
        entry = refund_by_operator(db_session, job_id=job_id, reason=reason)
        record_action(db_session, Action.REFUND, operator_id=operator_id, entry=entry,
                      reason=reason)
        db_session.commit()
        return entry


def audit_log(*, limit: int, before_id: int | None) -> Page[AuditEntry]:
    with read_only() as db_session:
        return one_page(lambda count: list_actions(db_session, limit=count, before_id=before_id),
                        limit=limit)
