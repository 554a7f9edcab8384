"""The audit log: every operator's grant and refund, who, when and why, written in the
transaction of the ledger movement it explains; every support lookup (§14), who looked at whom
and what they searched for, a lookup that found nobody included; and every change to a feature
flag (§14), who, when, and the flag before and after, written in the transaction of the change."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, String, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base
from models.clock import utcnow
from models.credits import CreditEntry


class Action(enum.StrEnum):
    GRANT = "grant"
    REFUND = "refund"
    VIEW_USER = "view_user"  # a support lookup: no credits move


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    operator_id: Mapped[int] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(20))
    # NULL for a lookup that found nobody.
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    generation_id: Mapped[int | None] = mapped_column(BigInteger)
    # A grant's and a refund's ledger entry; NULL for a lookup, which moves no credits.
    credit_entry_id: Mapped[int | None] = mapped_column(ForeignKey("credit_histories.id"))
    amount: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def record_action(db_session: Session, action: Action, *, operator_id: int, entry: CreditEntry,
                  reason: str) -> AuditEntry:
    audit = AuditEntry(operator_id=operator_id, action=action.value, user_id=entry.user_id,
                       generation_id=entry.generation_id, credit_entry_id=entry.id,
                       amount=entry.amount, reason=reason, created_at=utcnow())
    db_session.add(audit)
    db_session.flush()
    return audit


def record_lookup(db_session: Session, *, operator_id: int, user_id: int | None,
                  searched: str) -> AuditEntry:
    """An operator's look at a user's account (`user_id`, or None when the search found nobody);
    `searched` says what they looked for (`userId=…` or `email=…`), kept as the reason."""
    audit = AuditEntry(operator_id=operator_id, action=Action.VIEW_USER.value, user_id=user_id,
                       reason=f"support lookup: {searched}"[:500], created_at=utcnow())
    db_session.add(audit)
    db_session.flush()
    return audit


def list_actions(db_session: Session, *, limit: int, before_id: int | None) -> list[AuditEntry]:
    query = select(AuditEntry)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    return list(db_session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit)))


class FlagChange(Base):
    """One operator's change to a feature flag: the flag as it was and as it became."""

    __tablename__ = "flag_changes"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    operator_id: Mapped[int] = mapped_column(BigInteger)
    flag_name: Mapped[str] = mapped_column(String(56))
    before: Mapped[dict[str, Any]] = mapped_column(JSONB)
    after: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def record_flag_change(db_session: Session, *, operator_id: int, flag_name: str,
                       before: dict[str, Any], after: dict[str, Any]) -> FlagChange:
    change = FlagChange(operator_id=operator_id, flag_name=flag_name, before=before,
                        after=after, created_at=utcnow())
    db_session.add(change)
    db_session.flush()
    return change


def list_flag_changes(db_session: Session, *, flag_name: str, limit: int) -> list[FlagChange]:
    return list(db_session.scalars(select(FlagChange).where(FlagChange.flag_name == flag_name)
                                   .order_by(FlagChange.id.desc()).limit(limit)))
