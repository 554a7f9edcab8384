"""The stuck-job reaper's rules: which jobs are overdue, and taking one over.

A job is overdue when it is in flight past its deadline (a lost message) or processing by an
attempt whose lease ran out (a dead or hung worker, `models/leases.py`). The reaper
(`services/maintenance.reap_overdue_jobs`) puts it back in the queue for another attempt, or
fails and refunds it once its attempts are spent.
"""

from __future__ import annotations

from sqlalchemy import DateTime, Integer, bindparam, select
from sqlalchemy.orm import Session

from models.clock import utcnow
from models.generations import GenerationStatus, JobRow
from models.job_changes import Change
from models.job_statements import (
    GENERATION_ID,
    NO_LEASE_NULLS,
    NOW,
    has_attempts_left,
    job,
    overdue,
    progress_from_now,
    run_transition,
    transition_params,
    update_job,
)
from models.jobs import TIMED_OUT, TIMED_OUT_MESSAGE, fail_generation, queue_deadline

_OVERDUE_IDS = (select(job.id).where(overdue()).order_by(job.deadline_at)
                .limit(bindparam("limit", type_=Integer)))


def overdue_generation_ids(db_session: Session, *, limit: int = 500) -> list[int]:
    """In-flight jobs past their deadline or lease: a lost message, a dead or hung worker."""
    return list(db_session.scalars(_OVERDUE_IDS, {"now": utcnow(), "limit": limit}))


_RELEASE_OVERDUE = update_job(
    overdue(),
    has_attempts_left(),
    status=GenerationStatus.QUEUED.value,
    progress=progress_from_now(),
    progress_at=NOW,
    deadline_at=bindparam("deadline_at", type_=DateTime(timezone=True)),
    **NO_LEASE_NULLS,
)
_STILL_OVERDUE = select(job.id).where(job.id == GENERATION_ID, overdue())


def release_overdue_generation(db_session: Session, generation_id: int) -> JobRow | None:
    """Put an overdue job back in the queue, or fail and refund it if its attempts are spent.

    Returns the job in its new state (queued: the caller publishes its task again), or None
    if it was no longer overdue (finished or taken meanwhile).
    """
    now = utcnow()
    requeued: JobRow | None = run_transition(
        db_session, _RELEASE_OVERDUE, Change.REQUEUED,
        transition_params(generation_id, now, deadline_at=queue_deadline(now)))
    if requeued is not None:
        return requeued
    still_overdue = db_session.execute(
        _STILL_OVERDUE, {"generation_id": generation_id, "now": now}).scalar_one_or_none()
    if still_overdue is None:
        return None
    return fail_generation(db_session, generation_id, code=TIMED_OUT, message=TIMED_OUT_MESSAGE)
