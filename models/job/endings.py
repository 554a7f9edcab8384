"""How a job ends, and the attempt policy: the one module that decides what a failed job writes.

A job ends failed in one of these ways, every one through `fail_job`'s statement and refund
(the failure's columns, its frozen progress, the refund of its round, in one transaction):
a worker's attempt fails it (`fail_job` with `attempt`), the reaper finds it overdue with its
attempts spent, or an attempt gives it back past its round's time budget (`time_out_job`),
a publish never reaches the broker (`fail_job` without `attempt`), or its owner cancels it
(`cancel_job`; a delete cancels it with `cancel_in_flight`). A failed job goes back to the
queue only by its owner's retry (`retry_job`), a new charged round.

Every transition is one conditional UPDATE (`_statements.py`): it happens only from the state
it expects, and a worker's also names the attempt that claimed the job, so a redelivered or
stale task can never fail or refund a job twice. Every transition that happens is recorded
through `record_change`, the one path to what follows a committed change.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    DateTime,
    String,
    Text,
    Update,
    bindparam,
    literal,
    null,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from config import get_settings
from models.clock import utcnow
from models.credits import charge_job_round, refund_job_round
from models.errors import Conflict, OriginalExpired
from models.job._statements import (
    ENDED,
    NOW,
    held_by_attempt,
    job,
    progress_from_now,
    run_transition,
    transition_params,
    update_job,
)
from models.job.changes import Change
from models.job.table import IN_FLIGHT, Job, JobRow, JobStatus, get_job

# ---- the attempt policy ------------------------------------------------------------------------


def may_attempt_again(attempts_this_round: int) -> bool:
    """Whether a job that has had that many attempts in its round may have another one."""
    return attempts_this_round < get_settings().getimg_max_attempts


def queue_deadline(queued_from: datetime) -> datetime:
    """When a job that joins the queue at `queued_from` counts as lost to the reaper."""
    return queued_from + timedelta(seconds=get_settings().job_queue_timeout_seconds)


def _round_entry(db_session: Session, ended: Job | JobRow, move: Callable[..., object],
                 description: str) -> None:
    """The charge or the refund of the job's current round (a user retry opens a new one), as a
    ledger movement."""
    move(
        db_session,
        user_id=ended.user_id,
        cost=ended.credit_cost,
        generation_id=ended.id,
        generation_round=ended.retry_count,
        description=description,
    )


# ---- failing: what a failed job writes ---------------------------------------------------------

CANCELLED = "cancelled"
CANCELLED_MESSAGE = "Cancelled; your credits were refunded."
# A job out of time: the reaper's ending, and a give-back's past its round's time budget.
TIMED_OUT = "timed_out"
TIMED_OUT_MESSAGE = "The headshot could not be generated in time; your credits were refunded."


def _failed(*conditions: Any) -> Update:
    return update_job(
        *conditions,
        status=JobStatus.FAILED.value,
        # What the bar shows now, frozen: a failed job's bar stops, it does not step back.
        progress=progress_from_now(),
        error_code=bindparam("error_code", type_=String),
        error_message=bindparam("error_message", type_=Text),
        **ENDED,
    )


_FAIL_HELD = _failed(*held_by_attempt())
_FAIL_IN_FLIGHT = _failed(job.status.in_(IN_FLIGHT))


def _end_refunded(db_session: Session, job_id: int, change: Change, *, code: str,
                  message: str, metadata: dict[str, Any] | None,
                  attempt: int | None) -> JobRow | None:
    """Fail the job and refund its round, if it is still the attempt's (with `attempt`) or in
    flight (without)."""
    statement, params = (
        (_FAIL_IN_FLIGHT, transition_params(job_id, utcnow())) if attempt is None
        else (_FAIL_HELD, transition_params(job_id, utcnow(), attempt=attempt)))
    ended: JobRow | None = run_transition(
        db_session, statement, change,
        {**params, "error_code": code, "error_message": message, "meta": metadata or {}})
    if ended is not None:
        _round_entry(db_session, ended, refund_job_round, f"refund: {message}"[:500])
    return ended


def fail_job(
    db_session: Session,
    job_id: int,
    *,
    code: str,
    message: str,
    metadata: dict[str, Any] | None = None,
    attempt: int | None = None,
) -> JobRow | None:
    """Mark an in-flight job failed and refund it in the same transaction.

    With `attempt`, only that attempt may fail it (a worker); without, any in-flight job (a
    publish that never reached the broker).
    """
    return _end_refunded(db_session, job_id, Change.FAILED, code=code, message=message,
                         metadata=metadata, attempt=attempt)


def time_out_job(db_session: Session, job_id: int, *, attempt: int | None = None,
                 last_error: dict[str, str] | None = None) -> JobRow | None:
    """A job out of time ends failed (`timed_out`) and refunded: the reaper's ending of an
    overdue job whose attempts are spent, and a give-back's past its round's time budget (with
    `attempt`, fenced by it; `last_error`, the fault that sent it back)."""
    return fail_job(db_session, job_id, code=TIMED_OUT, message=TIMED_OUT_MESSAGE,
                    metadata={"lastError": last_error} if last_error else None,
                    attempt=attempt)


def cancel_in_flight(db_session: Session, job_id: int) -> JobRow | None:
    """An in-flight job ends failed (code `cancelled`) and is refunded now; a worker still busy
    with it finds it no longer its own and keeps nothing. None if it had already ended."""
    return _end_refunded(db_session, job_id, Change.CANCELLED, code=CANCELLED,
                         message=CANCELLED_MESSAGE, metadata=None, attempt=None)


def cancel_job(db_session: Session, *, user_id: int, job_id: int) -> Job:
    """The owner's cancel of a queued or processing job: failed (`cancelled`), refunded."""
    own = get_job(db_session, user_id=user_id, job_id=job_id, lock=True)
    if cancel_in_flight(db_session, job_id) is None:
        raise Conflict(f"this headshot has already ended ({own.status})",
                       code="already_finished")
    return get_job(db_session, user_id=user_id, job_id=job_id)


# ---- a user's retry: a new round, from nothing -------------------------------------------------

_REQUEUE_FAILED = update_job(
    job.status == JobStatus.FAILED.value,
    status=JobStatus.QUEUED.value,
    retry_count=job.retry_count + 1,
    attempts_before_round=job.attempts,
    progress=0,
    progress_at=NOW,
    error_code=null(),
    error_message=null(),
    metadata=literal({}, JSONB),
    started_at=null(),
    completed_at=null(),
    deadline_at=bindparam("deadline_at", type_=DateTime(timezone=True)),
)


def _requeue_failed(db_session: Session, job_id: int) -> JobRow | None:
    """A failed job back in the queue for a new round (the caller charges it); None if it is
    not failed (any more)."""
    now = utcnow()
    retried: JobRow | None = run_transition(
        db_session, _REQUEUE_FAILED, Change.RETRIED,
        transition_params(job_id, now, deadline_at=queue_deadline(now)))
    return retried


def retry_job(db_session: Session, *, user_id: int, job_id: int) -> Job:
    """The owner's retry: a failed job queued again from its original, and charged again (a
    new round)."""
    # Locked, so a delete racing this retry either goes first (then this is a 404) or waits:
    # a deleted job, whose original may be gone with it, is never charged and requeued.
    # And locked first: the charge locks the user's row after it (the lock order,
    # models/credits.py).
    own = get_job(db_session, user_id=user_id, job_id=job_id, lock=True)
    if own.status != JobStatus.FAILED:
        raise Conflict(f"only a failed headshot can be retried; this one is {own.status}",
                       code="not_failed")
    if own.upload is None or not own.upload.available:
        raise OriginalExpired()
    retried = _requeue_failed(db_session, job_id)
    if retried is None:  # retried by a racing request a moment ago
        raise Conflict("this headshot is already being retried", code="not_failed")
    _round_entry(db_session, retried, charge_job_round, f"retry of headshot {retried.id}")
    return get_job(db_session, user_id=user_id, job_id=job_id)
