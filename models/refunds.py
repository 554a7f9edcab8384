"""An operator's refund of a headshot (API guide §8, roadmap 3.3): the credits of its current
round come back, once.

Only a completed headshot can be refunded by hand: a failed one was refunded when it failed,
and one still running may yet fail and be refunded by the service. The ledger's partial unique
index (one refund per job and round) is what makes a second refund impossible, racing
operators included: the loser's INSERT is refused and becomes a 409.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models.credits import CreditEntry, refund_job_round
from models.errors import Conflict, NotFound
from models.job.table import Job, JobStatus

ALREADY_REFUNDED = "already_refunded"


def refund_by_operator(db_session: Session, *, job_id: int, reason: str) -> CreditEntry:
    # The job's row locked before the refund locks the user's (the lock order,
    # models/credits.py); its status is read under that lock.
    job = db_session.scalar(
        select(Job).where(Job.id == job_id)
        .with_for_update()
    )
    if job is None:
        raise NotFound(f"headshot {job_id} not found")
    if job.status == JobStatus.FAILED:
        raise Conflict("this headshot failed and was refunded automatically",
                       code=ALREADY_REFUNDED)
    if job.status != JobStatus.COMPLETED:
        raise Conflict(f"this headshot is still {job.status}; cancel it instead",
                       code="generation_in_progress")
    try:
        with db_session.begin_nested():  # a savepoint: the refused INSERT alone is undone
            return refund_job_round(
                db_session, user_id=job.user_id, cost=job.credit_cost,
                generation_id=job.id, generation_round=job.retry_count,
                description=f"refund by an operator: {reason}"[:500],
            )
    except IntegrityError:
        raise Conflict("this headshot has already been refunded",
                       code=ALREADY_REFUNDED) from None
