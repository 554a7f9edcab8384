"""The stuck-job reaper's rules: which jobs are overdue, and taking one over.

A job is overdue when it is in flight past its deadline (a lost message) or processing by an
attempt whose lease ran out (a dead or hung worker, `models/job/leases.py`). The reaper
(`services/maintenance.reap_overdue_jobs`) puts it back in the queue for another attempt, or
fails and refunds it once its attempts are spent (`endings.time_out_job`).
"""

from __future__ import annotations

from sqlalchemy import DateTime, Integer, bindparam, select
from sqlalchemy.orm import Session

from models.clock import utcnow
from models.job._statements import (
    JOB_ID,
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
from models.job.changes import Change
from models.job.endings import queue_deadline, time_out_job
from models.job.table import JobRow, JobStatus

_OVERDUE_IDS = (select(job.id).where(overdue()).order_by(job.deadline_at)
                .limit(bindparam("limit", type_=Integer)))


def overdue_job_ids(db_session: Session, *, limit: int = 500) -> list[int]:
    """In-flight jobs past their deadline or lease: a lost message, a dead or hung worker."""
    return list(db_session.scalars(_OVERDUE_IDS, {"now": utcnow(), "limit": limit}))


_RELEASE_OVERDUE = update_job(
    overdue(),
    has_attempts_left(),
    status=JobStatus.QUEUED.value,
    progress=progress_from_now(),
    progress_at=NOW,
    deadline_at=bindparam("deadline_at", type_=DateTime(timezone=True)),
    **NO_LEASE_NULLS,
)
_STILL_OVERDUE = select(job.id).where(job.id == JOB_ID, overdue())


def release_overdue_job(db_session: Session, job_id: int) -> JobRow | None:
    """Put an overdue job back in the queue, or fail and refund it if its attempts are spent.

    Returns the job in its new state (queued: the caller publishes its task again), or None
    if it was no longer overdue (finished or taken meanwhile).
    """
    now = utcnow()
    requeued: JobRow | None = run_transition(
        db_session, _RELEASE_OVERDUE, Change.REQUEUED,
        transition_params(job_id, now, deadline_at=queue_deadline(now)))
    if requeued is not None:
        return requeued
    still_overdue = db_session.execute(
        _STILL_OVERDUE, {"job_id": job_id, "now": now}).scalar_one_or_none()
    if still_overdue is None:
        return None
    return time_out_job(db_session, job_id)
