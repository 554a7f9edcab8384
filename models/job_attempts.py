"""A worker's transitions of a job, one attempt at a time: claim it, complete it, or put it back
in the queue, its attempt spent (requeue) or not (give back). Failing it, with its refund, is
`models/jobs.fail_generation`, which the reaper and the API share.

Each names the attempt that claimed the job (`held_by_attempt`), so a redelivered or stale
task can never complete or requeue a job twice; each that happens is recorded through
`record_change`, the one path to what follows a committed change. The statement parts are
`models/job_statements.py`'s, imported under the private names the statements are written with.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    DateTime,
    String,
    Table,
    bindparam,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from config import get_settings
from models.clock import utcnow
from models.events import Event, EventName, Source
from models.generations import GenerationStatus, JobRow
from models.job_changes import Change
from models.job_statements import ENDED as _ENDED
from models.job_statements import GENERATION_ID as _GENERATION_ID
from models.job_statements import JOBS as _JOBS
from models.job_statements import NO_LEASE_NULLS as _NO_LEASE
from models.job_statements import NOW as _NOW
from models.job_statements import has_attempts_left as _has_attempts_left
from models.job_statements import held_by_attempt as _held_by_attempt
from models.job_statements import job as _job
from models.job_statements import merged_meta as _merged_meta
from models.job_statements import overdue as _overdue
from models.job_statements import progress_from_now as _progress_from_now
from models.job_statements import run_transition as _transition
from models.job_statements import transition_params as _params
from models.job_statements import update_job as _update
from models.jobs import TIMED_OUT, TIMED_OUT_MESSAGE, fail_generation, queue_deadline
from models.leases import lease_expiry, new_lease
from models.progress import PROGRESS_DONE, PROGRESS_WAITING
from models.styles import Style
from models.uploads import Upload
from models.users import User

_UPLOADS = cast(Table, Upload.__table__)
_STYLES = cast(Table, Style.__table__)
_USERS = cast(Table, User.__table__)
_EVENTS = cast(Table, Event.__table__)


@dataclass(frozen=True)
class ClaimedRow(JobRow):
    """The claimed job, with what its attempt needs from its upload and style (read by the
    claim's own statement)."""

    original_key: str | None  # None once the original is gone
    original_content_type: str
    model: str
    prompt: str


def _claimable() -> tuple[Any, ...]:
    return (
        _job.deleted_at.is_(None),
        _has_attempts_left(),
        or_(_job.status == GenerationStatus.QUEUED.value, _overdue()),
    )


def is_claimable(db_session: Session, generation_id: int) -> bool:
    """Whether `claim_generation` would take the job now (a read: a duplicate message need
    not wait for a GetImg slot only to find nothing to do)."""
    return db_session.execute(
        _IS_CLAIMABLE, _params(generation_id, utcnow())).scalar_one_or_none() is not None


_IS_CLAIMABLE = select(_job.id).where(_job.id == _GENERATION_ID, *_claimable())
_CLAIM = _update(
    *_claimable(),
    status=GenerationStatus.PROCESSING.value,
    attempts=_job.attempts + 1,
    started_at=func.coalesce(_job.started_at, _NOW),
    deadline_at=bindparam("deadline_at", type_=DateTime(timezone=True)),
    lease_expires_at=lease_expiry(),
    lease_owner=bindparam("lease_owner", type_=String),
    progress=_progress_from_now(),
    progress_at=_NOW,
).returning(
    select(_UPLOADS.c.storage_key)
    .where(_UPLOADS.c.id == _job.upload_id, _UPLOADS.c.deleted_at.is_(None),
           _UPLOADS.c.expires_at > _NOW)
    .correlate(_JOBS).scalar_subquery().label("original_key"),
    func.coalesce(
        select(_UPLOADS.c.content_type).where(_UPLOADS.c.id == _job.upload_id)
        .correlate(_JOBS).scalar_subquery(),
        "image/jpeg").label("original_content_type"),
    select(_STYLES.c.model).where(_STYLES.c.id == _job.style)
    .correlate(_JOBS).scalar_subquery().label("model"),
    select(_STYLES.c.prompt).where(_STYLES.c.id == _job.style)
    .correlate(_JOBS).scalar_subquery().label("prompt"),
)


def claim_generation(db_session: Session, generation_id: int, *,
                     lease_owner: str | None = None) -> ClaimedRow | None:
    """Take a queued job (or one whose attempt missed its deadline or lost its lease) for one
    new attempt, which holds the job's lease from now on (`models/leases.py`). It stores
    PROGRESS_WAITING: the attempt calls GetImg at once, and readers show the estimate rising
    from there."""
    now = utcnow()
    params = _params(
        generation_id, now, milestone=PROGRESS_WAITING,
        deadline_at=now + timedelta(seconds=get_settings().job_processing_timeout_seconds),
        **new_lease(lease_owner))
    claimed: ClaimedRow | None = _transition(db_session, _CLAIM, Change.CLAIMED, params,
                                             ClaimedRow)
    return claimed


_COMPLETE = _update(
    *_held_by_attempt(),
    _job.deleted_at.is_(None),
    status=GenerationStatus.COMPLETED.value,
    progress=PROGRESS_DONE,
    result_keys=bindparam("result_keys", type_=JSONB),
    thumbnail_key=bindparam("thumbnail_key", type_=String),
    error_code=null(),
    error_message=null(),
    **_ENDED,
)
# The completion, its user's count of headshots and its `headshot_completed` event in one
# statement (one round trip, not three): the count's UPDATE and the event's INSERT read the
# completed row, so they run only if the job moved, and after it (the job's row is locked
# first, as before). The event is the one record_change writes for the other endings
# (models/job_changes.py), with the same properties.
_COMPLETED = _COMPLETE.cte("completed")
_COMPLETE_AND_COUNT = select(*_COMPLETED.c).add_cte(
    update(_USERS).where(_USERS.c.id.in_(select(_COMPLETED.c.user_id)))
    .values(total_headshots_generated=_USERS.c.total_headshots_generated + 1)
    .cte("counted")
).add_cte(
    insert(_EVENTS).from_select(
        ["name", "source", "user_id", "generation_id", "properties", "created_at"],
        select(literal(EventName.HEADSHOT_COMPLETED.value), literal(Source.SERVICE.value),
               _COMPLETED.c.user_id, _COMPLETED.c.id,
               func.jsonb_build_object("style", _COMPLETED.c.style), _NOW),
    ).cte("completion_event")
)


def complete_generation(
    db_session: Session,
    generation_id: int,
    *,
    attempt: int,
    result_keys: list[str],
    thumbnail_key: str,
    metadata: dict[str, Any],
) -> JobRow | None:
    """Mark the attempt's job completed; None if the job is no longer this attempt's to finish."""
    completed: JobRow | None = _transition(
        db_session, _COMPLETE_AND_COUNT, Change.COMPLETED,
        _params(generation_id, utcnow(), attempt=attempt, result_keys=result_keys,
                thumbnail_key=thumbnail_key, meta=metadata))
    return completed


# What every requeue writes: back in the queue from the progress shown now, with a fresh queue
# deadline, no lease, and the fault that sent it back.
_REQUEUED = {
    "status": GenerationStatus.QUEUED.value,
    "progress": _progress_from_now(),
    "progress_at": _NOW,
    "deadline_at": bindparam("deadline_at", type_=DateTime(timezone=True)),
    **_NO_LEASE,
    "metadata": _merged_meta(),
}
_REQUEUE = _update(*_held_by_attempt(), **_REQUEUED)


def _requeue_params(generation_id: int, now: datetime, *, attempt: int,
                    retry_in_seconds: float, code: str, message: str) -> dict[str, Any]:
    return _params(generation_id, now, attempt=attempt,
                   deadline_at=queue_deadline(now + timedelta(seconds=retry_in_seconds)),
                   meta={"lastError": {"code": code, "message": message}})


def requeue_generation(
    db_session: Session,
    generation_id: int,
    *,
    attempt: int,
    retry_in_seconds: float,
    code: str,
    message: str,
) -> JobRow | None:
    """Put a job whose attempt hit a transient fault back in the queue for a later attempt.

    The progress shown at this moment is stored, so the next attempt's display starts from it
    instead of going back.
    """
    requeued: JobRow | None = _transition(
        db_session, _REQUEUE, Change.REQUEUED,
        _requeue_params(generation_id, utcnow(), attempt=attempt,
                        retry_in_seconds=retry_in_seconds, code=code, message=message))
    return requeued


# ---- attempts that do not count ----------------------------------------------------------------
#
# THE rule: an attempt cut short by something that is not the job's fault (a worker stopping
# for a deploy hands its jobs back; GetImg's 429 says "later", not "no") is given back: the
# requeue shifts `attempts_before_round` by one, so this round's count (`attempts -
# attempts_before_round`) is as if the attempt never happened, while `attempts` itself, the
# number every fence names, still only grows (a stale attempt's writes are still refused).
#
# What bounds it: free requeues could go on forever (a deploy loop, a GetImg that stays busy),
# and each requeue gives the job a fresh queue deadline, so the reaper alone would never end
# it. The round has a time budget instead: the time its attempts could have held it had every
# one of them counted (GETIMG_MAX_ATTEMPTS x JOB_PROCESSING_TIMEOUT_SECONDS), from the round's
# first claim (`started_at`, reset by a user's retry). Past it, a give-back ends the job failed
# (`timed_out`, as the reaper ends an overdue job) and refunded, in the same fenced
# transaction, so once.

def round_time_budget_seconds() -> float:
    """How long after a round's first claim its attempts may still be given back."""
    settings = get_settings()
    return settings.getimg_max_attempts * settings.job_processing_timeout_seconds


_GIVE_ATTEMPT_BACK = _update(
    *_held_by_attempt(),
    _job.started_at > bindparam("round_started_after", type_=DateTime(timezone=True)),
    attempts_before_round=_job.attempts_before_round + 1,
    **_REQUEUED,
)


def give_attempt_back(
    db_session: Session,
    generation_id: int,
    *,
    attempt: int,
    retry_in_seconds: float,
    code: str,
    message: str,
) -> JobRow | None:
    """Put the attempt's job back in the queue without spending the attempt (see the rule
    above); past the round's time budget, fail and refund it instead. The job in its new state
    (queued: the caller publishes its task again; failed), or None if it was no longer this
    attempt's."""
    now = utcnow()
    params = _requeue_params(generation_id, now, attempt=attempt,
                             retry_in_seconds=retry_in_seconds, code=code, message=message)
    requeued: JobRow | None = _transition(
        db_session, _GIVE_ATTEMPT_BACK, Change.REQUEUED,
        {**params, "round_started_after": now - timedelta(seconds=round_time_budget_seconds())})
    if requeued is not None:
        return requeued
    # Not this attempt's any more (fail_generation's fence says so too), or past the budget.
    return fail_generation(db_session, generation_id, code=TIMED_OUT, message=TIMED_OUT_MESSAGE,
                           metadata={"lastError": {"code": code, "message": message}},
                           attempt=attempt)
