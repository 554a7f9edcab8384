"""Operators' reads for the admin dashboard (contract §8) that the analytics rollup does not
hold: single rows, such as the latest failed headshots."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, exists, select
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


def recent_failures(db_session: Session, *, limit: int) -> list[Failure]:
    """The newest failed headshots first (by id: ids grow with time, and the primary key's index
    serves the order), cancels left out."""
    refunded = exists().where(and_(
        CreditEntry.generation_id == Job.id,
        CreditEntry.generation_round == Job.retry_count,
        CreditEntry.type == EntryType.REFUND.value,
    ))
    rows = db_session.execute(
        select(Job.id, Job.user_id, Job.style,
               Job.error_code, Job.error_message,
               Job.completed_at, refunded.label("refunded"))
        .where(Job.status == JobStatus.FAILED.value,
               Job.error_code.is_distinct_from(CANCELLED))
        .order_by(Job.id.desc())
        .limit(limit)
    )
    return [Failure(*row) for row in rows]
