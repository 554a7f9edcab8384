"""Operators' reads for the admin dashboard (API guide §8) that the analytics rollup does not
hold: single rows, such as the failed headshots."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, exists, select, tuple_
from sqlalchemy.orm import Session

from models.credits import CreditEntry, EntryType
from models.job.table import Job, JobStatus

# A user's own cancel ends a headshot `failed` too, but it is no failure of the generator (the
# analytics leave it out the same way).
CANCELLED = "cancelled"


@dataclass(frozen=True)
class Failure:
    id: int
    user_id: int
    style: str
    error_code: str | None
    error_message: str | None
    completed_at: datetime | None
    refunded: bool  # the credits of its last round came back (a failure refunds itself)


@dataclass(frozen=True)
class FailureFilter:
    """Which failures to list: failed between `failed_from` and `failed_to` (both included),
    with this error code, of this style, of this user; None is any. Without a code, a user's own
    cancels are left out; `code="cancelled"` lists them."""

    failed_from: datetime | None = None
    failed_to: datetime | None = None
    code: str | None = None
    style: str | None = None
    user_id: int | None = None


def failures(db_session: Session, where: FailureFilter, *, limit: int,
             after: tuple[datetime, int] | None = None) -> list[Failure]:
    """The failed headshots, newest failure first (by when each failed, then by id), from
    after `after` (the last row of the page before: its failure time and id). The partial index
    ix_headshot_generations_failed_at serves the order."""
    refunded = exists().where(and_(
        CreditEntry.generation_id == Job.id,
        CreditEntry.generation_round == Job.retry_count,
        CreditEntry.type == EntryType.REFUND.value,
    ))
    conditions = [Job.status == JobStatus.FAILED.value, Job.completed_at.is_not(None),
                  Job.error_code == where.code if where.code is not None
                  else Job.error_code.is_distinct_from(CANCELLED)]
    if where.failed_from is not None:
        conditions.append(Job.completed_at >= where.failed_from)
    if where.failed_to is not None:
        conditions.append(Job.completed_at <= where.failed_to)
    if where.style is not None:
        conditions.append(Job.style == where.style)
    if where.user_id is not None:
        conditions.append(Job.user_id == where.user_id)
    if after is not None:
        conditions.append(tuple_(Job.completed_at, Job.id) < tuple_(*after))
    rows = db_session.execute(
        select(Job.id, Job.user_id, Job.style,
               Job.error_code, Job.error_message,
               Job.completed_at, refunded.label("refunded"))
        .where(*conditions)
        .order_by(Job.completed_at.desc(), Job.id.desc())
        .limit(limit)
    )
    return [Failure(*row) for row in rows]
