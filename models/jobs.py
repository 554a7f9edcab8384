"""The code that moves a job between states (see the diagram in `models/generations.py`), with
`models/job_attempts.py`, which holds a worker's transitions (claim, complete, requeue, give
back): here the attempt policy, the endings that refund (fail, cancel) and a user's retry.

Every transition is one conditional UPDATE: it happens only from the state it expects, and
worker-side transitions also name the attempt that claimed the job, so a redelivered or stale
task can never complete, fail or refund a job twice. Every transition that happens is recorded
through `record_change`, the one path to what follows a committed change.

The statement parts the transitions share with the stuck-job reaper (`models/reaper.py`) are
in `models/job_statements.py`, imported here under the private names the statements below
are written with.
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
from models.credits import charge_for_generation, refund_generation
from models.generations import IN_FLIGHT, GenerationStatus, HeadshotGeneration, JobRow
from models.job_changes import Change
from models.job_statements import ENDED as _ENDED
from models.job_statements import NOW as _NOW
from models.job_statements import held_by_attempt as _held_by_attempt
from models.job_statements import job as _job
from models.job_statements import progress_from_now as _progress_from_now
from models.job_statements import run_transition as _transition
from models.job_statements import transition_params as _params
from models.job_statements import update_job as _update

# ---- the attempt policy ------------------------------------------------------------------------


def may_attempt_again(attempts_this_round: int) -> bool:
    """Whether a job that has had that many attempts in its round may have another one."""
    return attempts_this_round < get_settings().getimg_max_attempts


def queue_deadline(queued_from: datetime) -> datetime:
    """When a job that joins the queue at `queued_from` counts as lost to the reaper."""
    return queued_from + timedelta(seconds=get_settings().job_queue_timeout_seconds)


def charge_round(db_session: Session, generation: HeadshotGeneration | JobRow,
                 description: str) -> None:
    """Charge for the job's current round (a user retry opens a new one)."""
    _round_entry(db_session, generation, charge_for_generation, description)


def _round_entry(db_session: Session, generation: HeadshotGeneration | JobRow,
                 move: Callable[..., object], description: str) -> None:
    """The charge or the refund of the job's current round, as a ledger movement."""
    move(
        db_session,
        user_id=generation.user_id,
        cost=generation.credit_cost,
        generation_id=generation.id,
        generation_round=generation.retry_count,
        description=description,
    )


# ---- transitions ---------------------------------------------------------------------------------
#
# Each one a prebuilt statement of `models/job_statements.py` (built once, run with its values as
# parameters); an attempt's own are in `models/job_attempts.py`, the reaper's in
# `models/reaper.py`.

def fail_generation(
    db_session: Session,
    generation_id: int,
    *,
    code: str,
    message: str,
    metadata: dict[str, Any] | None = None,
    attempt: int | None = None,
) -> JobRow | None:
    """Mark an in-flight job failed and refund it in the same transaction.

    With `attempt`, only that attempt may fail it (a worker); without, any in-flight job (the
    reaper, or a publish that never reached the broker).
    """
    if attempt is None:
        return _end_refunded(db_session, _FAIL_IN_FLIGHT, Change.FAILED,
                             _params(generation_id, utcnow()), message=message, code=code,
                             metadata=metadata or {})
    return _end_refunded(db_session, _FAIL_HELD, Change.FAILED,
                         _params(generation_id, utcnow(), attempt=attempt), message=message,
                         code=code, metadata=metadata or {})


CANCELLED = "cancelled"
CANCELLED_MESSAGE = "Cancelled; your credits were refunded."
# A job out of time: the reaper's ending, and a give-back's past its round's time budget.
TIMED_OUT = "timed_out"
TIMED_OUT_MESSAGE = "The headshot could not be generated in time; your credits were refunded."


def cancel_generation(db_session: Session, generation_id: int) -> JobRow | None:
    """The owner's cancel: an in-flight job ends failed (code `cancelled`) and is refunded
    now; a worker still busy with it finds it no longer its own and keeps nothing. None if
    it had already ended."""
    return _end_refunded(db_session, _FAIL_IN_FLIGHT, Change.CANCELLED,
                         _params(generation_id, utcnow()), code=CANCELLED,
                         message=CANCELLED_MESSAGE, metadata={})


def _ended_refunded(*conditions: Any) -> Update:
    return _update(
        *conditions,
        status=GenerationStatus.FAILED.value,
        # What the bar shows now, frozen: a failed job's bar stops, it does not step back.
        progress=_progress_from_now(),
        error_code=bindparam("error_code", type_=String),
        error_message=bindparam("error_message", type_=Text),
        **_ENDED,
    )


_FAIL_HELD = _ended_refunded(*_held_by_attempt())
_FAIL_IN_FLIGHT = _ended_refunded(_job.status.in_(IN_FLIGHT))


def _end_refunded(db_session: Session, statement: Update, change: Change,
                  params: dict[str, Any], *, code: str, message: str,
                  metadata: dict[str, Any]) -> JobRow | None:
    ended: JobRow | None = _transition(
        db_session, statement, change,
        {**params, "error_code": code, "error_message": message, "meta": metadata})
    if ended is not None:
        _round_entry(db_session, ended, refund_generation, f"refund: {message}"[:500])
    return ended


# A user's retry: a new round, from nothing.
_REQUEUE_FAILED = _update(
    _job.status == GenerationStatus.FAILED.value,
    status=GenerationStatus.QUEUED.value,
    retry_count=_job.retry_count + 1,
    attempts_before_round=_job.attempts,
    progress=0,
    progress_at=_NOW,
    error_code=null(),
    error_message=null(),
    metadata=literal({}, JSONB),
    started_at=null(),
    completed_at=null(),
    deadline_at=bindparam("deadline_at", type_=DateTime(timezone=True)),
)


def requeue_failed_generation(db_session: Session, generation_id: int) -> JobRow | None:
    """A user's retry: a failed job back in the queue for a new round (the caller charges it);
    None if it is not failed (any more)."""
    now = utcnow()
    retried: JobRow | None = _transition(
        db_session, _REQUEUE_FAILED, Change.RETRIED,
        _params(generation_id, now, deadline_at=queue_deadline(now)))
    return retried
