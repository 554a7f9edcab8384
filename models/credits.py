"""The credit ledger: every movement of credits is a row, and `users.credits` is its running sum.

All balance changes go through `_move`, a single conditional UPDATE that can never take a balance
below zero (two racing charges cannot both pass the check) followed by the ledger row carrying the
resulting balance, in the caller's transaction; the charge for new jobs applies the same
condition in the one statement that writes the jobs and their ledger rows
(`models/job/creation.create_jobs`). Each movement is also noted on the session
(`take_movements`), so that what counts the credits (the metrics) sees committed ones only.

Lock order. A transaction that changes both a job and its owner's balance locks the job's row
first (then its upload's and its batch's, if it needs them) and the user's row last, with the
balance movement itself. Every write path does so: the worker's and the reaper's transitions
(their UPDATE of the job comes first, `models/job/`), the user's cancel, retry and delete and
delete-my-data (`models/job/endings.py` and `deletion.py`, which lock the job before anything
else), an operator's refund (`models/refunds.py`) and the creation of jobs (the upload, then the
user; the new jobs' rows nobody else can hold). The worker's path could not take the user's row
first without one more round trip per transition, and two transactions taking the same two rows
in opposite orders deadlock: PostgreSQL aborts one of them (a 503 for a user, a rolled-back
ending for a worker). So nothing may lock a user's row before the job rows it is about to
change: no upsert of the user that locks it ahead of the job (`models/users.register_user` locks
it only when it changes the email).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Update,
    cast,
    func,
    select,
    text,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base
from models.clock import utcnow
from models.errors import Conflict, InsufficientCredits, NotFound
from models.users import User

MAX_BALANCE = 2**31 - 1  # users.credits and users.total_credits_spent are INTEGERs
PENDING_MOVEMENTS = "headshots.credit_movements"  # key in Session.info


class EntryType(enum.StrEnum):
    HEADSHOT = "headshot"  # a charge for one generation
    REFUND = "refund"
    GRANT = "grant"


class CreditEntry(Base):
    __tablename__ = "credit_histories"
    __table_args__ = (
        Index("ix_credit_histories_user_id_id", "user_id", text("id DESC")),
        Index("ix_credit_histories_created_at", "created_at"),  # analytics: a day's movements
        # One charge and one refund per generation per round (a user retry opens a new round):
        # the database itself refuses a double charge or double refund.
        Index(
            "uq_credit_histories_generation_round",
            "generation_id",
            "type",
            "generation_round",
            unique=True,
            postgresql_where=text("generation_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=False)
    generation_id: Mapped[int | None] = mapped_column(
        ForeignKey("headshot_generations.id"), index=True
    )
    generation_round: Mapped[int | None] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(20))
    amount: Mapped[int] = mapped_column(Integer)
    balance_after: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


def _move(
    db_session: Session,
    *,
    user_id: int,
    amount: int,
    entry_type: EntryType,
    description: str,
    generation_id: int | None = None,
    generation_round: int | None = None,
) -> CreditEntry:
    balance = db_session.execute(
        balance_update(user_id, amount, entry_type).returning(User.credits)
    ).scalar_one_or_none()
    if balance is None:
        raise refusal(db_session, user_id=user_id, amount=amount)
    entry = CreditEntry(
        user_id=user_id,
        generation_id=generation_id,
        generation_round=generation_round,
        type=entry_type.value,
        amount=amount,
        balance_after=balance,
        description=description,
        created_at=utcnow(),  # the domain's clock, like the rows it pays for (analytics' days)
    )
    db_session.add(entry)
    db_session.flush()  # a refused row (the unique index) raises here and is not noted
    note_movements(db_session, [Movement(entry_type, amount)])
    return entry


def balance_update(user_id: int, amount: int, entry_type: EntryType) -> Update:
    """The one conditional UPDATE that moves a balance: it matches no row when the balance
    would go below zero, or when a grant would take what the user holds past MAX_BALANCE.

    What the user holds counts the credits their headshots were charged and not given back
    (`total_credits_spent`): a charge moves credits from the balance to it and a refund moves
    them back, so only a grant changes the sum, and a grant that keeps the sum within
    MAX_BALANCE keeps every later refund within it too. A refund is therefore never refused
    for the cap, nor is the cancel or the deletion that refunds: the cap limits what is given,
    not what is given back. Two racing charges can never both pass the zero check.

    Its ledger row is the caller's to write in the same transaction (`_move`). The creation
    of jobs charges by the same rule in the statement that writes the jobs and their ledger
    rows (`models/job/creation.create_jobs`).
    """
    spent_delta = {EntryType.HEADSHOT: -amount, EntryType.REFUND: -amount}.get(entry_type, 0)
    # Computed as BIGINT, so checking a sum can never overflow itself.
    new_balance = cast(User.credits, BigInteger) + amount
    conditions = [User.id == user_id, new_balance >= 0]
    if entry_type is EntryType.GRANT:
        conditions.append(new_balance + User.total_credits_spent <= MAX_BALANCE)
    values: dict[str, Any] = {"credits": User.credits + amount,
                              "total_credits_spent": User.total_credits_spent + spent_delta}
    return update(User).where(*conditions).values(values)


def refusal(db_session: Session, *, user_id: int, amount: int) -> Exception:
    """Why `balance_update` matched no row."""
    if db_session.get(User, user_id) is None:
        return NotFound(f"user {user_id} not found")
    if amount > 0:  # only a grant is refused for the cap
        return Conflict(f"amount: the credits held (the balance and what running or completed "
                        f"headshots were charged) would exceed {MAX_BALANCE}",
                        code="balance_limit_exceeded")
    return InsufficientCredits(f"this needs {-amount} credits; the balance is too low")


def note_movements(db_session: Session, movements: list[Movement]) -> None:
    """Note committed-to-be movements on the session, for `take_movements`."""
    db_session.info.setdefault(PENDING_MOVEMENTS, []).extend(movements)


@dataclass(frozen=True)
class Movement:
    entry_type: EntryType
    amount: int


def take_movements(db_session: Session) -> list[Movement]:
    """The movements made since the last commit or rollback; forgets them."""
    movements: list[Movement] = db_session.info.pop(PENDING_MOVEMENTS, [])
    return movements


def move_for_round(
    db_session: Session, *, entry_type: EntryType, user_id: int, cost: int, generation_id: int,
    generation_round: int, description: str,
) -> CreditEntry:
    """The charge (HEADSHOT: the cost taken) or the refund (REFUND: the cost given back) of one
    round of a job."""
    return _move(
        db_session,
        user_id=user_id,
        amount=-cost if entry_type is EntryType.HEADSHOT else cost,
        entry_type=entry_type,
        description=description,
        generation_id=generation_id,
        generation_round=generation_round,
    )


charge_job_round = partial(move_for_round, entry_type=EntryType.HEADSHOT)
refund_job_round = partial(move_for_round, entry_type=EntryType.REFUND)


def grant_credits(db_session: Session, *, user_id: int, amount: int, reason: str) -> CreditEntry:
    return _move(
        db_session, user_id=user_id, amount=amount, entry_type=EntryType.GRANT, description=reason
    )


def list_entries(
    db_session: Session,
    *,
    user_id: int,
    entry_type: EntryType | None,
    limit: int,
    before_id: int | None,
) -> list[CreditEntry]:
    query = select(CreditEntry).where(CreditEntry.user_id == user_id)
    if entry_type is not None:
        query = query.where(CreditEntry.type == entry_type.value)
    if before_id is not None:
        query = query.where(CreditEntry.id < before_id)
    return list(db_session.scalars(query.order_by(CreditEntry.id.desc()).limit(limit)))


def ledger_mismatches(db_session: Session) -> list[tuple[int, int, int]]:
    """Users whose balance differs from the sum of their ledger: (user_id, credits, ledger_sum).

    The invariant every credit-touching test asserts; an operator can run it too.
    """
    ledger_sum = (
        select(CreditEntry.user_id, func.sum(CreditEntry.amount).label("total"))
        .group_by(CreditEntry.user_id)
        .subquery()
    )
    rows = db_session.execute(
        select(User.id, User.credits, func.coalesce(ledger_sum.c.total, 0))
        .outerjoin(ledger_sum, ledger_sum.c.user_id == User.id)
        .where(User.credits != func.coalesce(ledger_sum.c.total, 0))
    ).all()
    return [(int(r[0]), int(r[1]), int(r[2])) for r in rows]
