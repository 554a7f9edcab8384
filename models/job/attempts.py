"""A worker's transitions of a job, one attempt at a time: claim it, complete it, or put it back
in the queue, its attempt spent (`requeue_job`) or not (`give_attempt_back`). Failing it, with
its refund, is `endings.py`'s, which the reaper and the API share.

Each names the attempt that claimed the job (`held_by_attempt`), so a redelivered or stale
task can never complete or requeue a job twice; each that happens is recorded through
`record_change`, the one path to what follows a committed change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypedDict, Unpack, cast

from sqlalchemy import (
    DateTime,
    Integer,
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
from models.credits import CreditEntry, EntryType
from models.events import Event, EventName, Source
from models.job._statements import (
    ENDED,
    JOB_ID,
    JOBS,
    NO_LEASE_NULLS,
    NOW,
    has_attempts_left,
    held_by_attempt,
    job,
    merged_meta,
    overdue,
    progress_from_now,
    run_transition,
    transition_params,
    update_job,
)
from models.job.changes import Change
from models.job.endings import queue_deadline, time_out_job
from models.job.leases import lease_expiry, new_lease
from models.job.progress import PROGRESS_DONE, PROGRESS_WAITING
from models.job.table import JobRow, JobStatus
from models.styles import Style
from models.uploads import Upload
from models.users import User

_UPLOADS = cast(Table, Upload.__table__)
_STYLES = cast(Table, Style.__table__)
_USERS = cast(Table, User.__table__)
_EVENTS = cast(Table, Event.__table__)
_CREDITS = cast(Table, CreditEntry.__table__)


@dataclass(frozen=True)
class ClaimedRow(JobRow):
    """The claimed job, with what its attempt needs from its upload and style (read by the
    claim's own statement)."""

    original_key: str | None  # None once the original is gone
    original_content_type: str
    model: str
    prompt: str
    # When this round was asked for: its charge in the ledger (the request, or the owner's
    # retry), the start of the metadata's queueTime and totalTime.
    round_asked_at: datetime


def _claimable() -> tuple[Any, ...]:
    return (
        job.deleted_at.is_(None),
        has_attempts_left(),
        or_(job.status == JobStatus.QUEUED.value, overdue()),
    )


def is_claimable(db_session: Session, job_id: int) -> bool:
    """Whether `claim_job` would take the job now (a read: a duplicate message need
    not wait for a GetImg slot only to find nothing to do)."""
    return db_session.execute(
        _IS_CLAIMABLE, transition_params(job_id, utcnow())).scalar_one_or_none() is not None


_IS_CLAIMABLE = select(job.id).where(job.id == JOB_ID, *_claimable())
_CLAIM = update_job(
    *_claimable(),
    status=JobStatus.PROCESSING.value,
    attempts=job.attempts + 1,
    started_at=func.coalesce(job.started_at, NOW),
    deadline_at=bindparam("deadline_at", type_=DateTime(timezone=True)),
    lease_expires_at=lease_expiry(),
    lease_owner=bindparam("lease_owner", type_=String),
    progress=progress_from_now(),
    progress_at=NOW,
).returning(
    select(_UPLOADS.c.storage_key)
    .where(_UPLOADS.c.id == job.upload_id, _UPLOADS.c.deleted_at.is_(None),
           _UPLOADS.c.expires_at > NOW)
    .correlate(JOBS).scalar_subquery().label("original_key"),
    func.coalesce(
        select(_UPLOADS.c.content_type).where(_UPLOADS.c.id == job.upload_id)
        .correlate(JOBS).scalar_subquery(),
        "image/jpeg").label("original_content_type"),
    select(_STYLES.c.model).where(_STYLES.c.id == job.style)
    .correlate(JOBS).scalar_subquery().label("model"),
    select(_STYLES.c.prompt).where(_STYLES.c.id == job.style)
    .correlate(JOBS).scalar_subquery().label("prompt"),
    func.coalesce(
        select(_CREDITS.c.created_at)
        .where(_CREDITS.c.generation_id == job.id, _CREDITS.c.generation_round == job.retry_count,
               _CREDITS.c.type == EntryType.HEADSHOT.value)
        .correlate(JOBS).scalar_subquery(),
        job.created_at).label("round_asked_at"),
)


def claim_job(db_session: Session, job_id: int, *,
              lease_owner: str | None = None) -> ClaimedRow | None:
    """Take a queued job (or one whose attempt missed its deadline or lost its lease) for one
    new attempt, which holds the job's lease from now on (`models/job/leases.py`). It stores
    PROGRESS_WAITING: the attempt calls GetImg at once, and readers show the estimate rising
    from there."""
    now = utcnow()
    params = transition_params(
        job_id, now, milestone=PROGRESS_WAITING,
        deadline_at=now + timedelta(seconds=get_settings().job_processing_timeout_seconds),
        **new_lease(lease_owner))
    claimed: ClaimedRow | None = run_transition(db_session, _CLAIM, Change.CLAIMED, params,
                                             ClaimedRow)
    return claimed


_COMPLETE = update_job(
    *held_by_attempt(),
    job.deleted_at.is_(None),
    status=JobStatus.COMPLETED.value,
    progress=PROGRESS_DONE,
    result_keys=bindparam("result_keys", type_=JSONB),
    thumbnail_key=bindparam("thumbnail_key", type_=String),
    result_sizes=bindparam("result_sizes", type_=JSONB),
    thumbnail_width=bindparam("thumbnail_width", type_=Integer),
    thumbnail_height=bindparam("thumbnail_height", type_=Integer),
    before_key=bindparam("before_key", type_=String),
    before_width=bindparam("before_width", type_=Integer),
    before_height=bindparam("before_height", type_=Integer),
    error_code=null(),
    error_message=null(),
    **ENDED,
)
# The completion, its user's count of headshots and its `headshot_completed` event in one
# statement (one round trip, not three): the count's UPDATE and the event's INSERT read the
# completed row, so they run only if the job moved, and after it (the job's row is locked
# first, as before). The event is the one record_change writes for the other endings
# (models/job/changes.py), with the same properties.
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
               func.jsonb_build_object("style", _COMPLETED.c.style), NOW),
    ).cte("completion_event")
)


def complete_job(
    db_session: Session,
    job_id: int,
    *,
    attempt: int,
    result_keys: list[str],
    thumbnail_key: str,
    metadata: dict[str, Any],
    result_sizes: list[tuple[int, int]] | None = None,
    thumbnail_size: tuple[int, int] | None = None,
    before_key: str | None = None,
    before_size: tuple[int, int] | None = None,
) -> JobRow | None:
    """Mark the attempt's job completed; None if the job is no longer this attempt's to finish.
    The sizes are [width, height] per result, the thumbnail's and the before image's (None:
    not known)."""
    completed: JobRow | None = run_transition(
        db_session, _COMPLETE_AND_COUNT, Change.COMPLETED,
        transition_params(job_id, utcnow(), attempt=attempt, result_keys=result_keys,
                thumbnail_key=thumbnail_key, meta=metadata,
                result_sizes=[list(size) for size in result_sizes] if result_sizes else None,
                thumbnail_width=thumbnail_size[0] if thumbnail_size else None,
                thumbnail_height=thumbnail_size[1] if thumbnail_size else None,
                before_key=before_key,
                before_width=before_size[0] if before_size else None,
                before_height=before_size[1] if before_size else None))
    return completed


# What every requeue writes: back in the queue from the progress shown now, with a fresh queue
# deadline, no lease, and the fault that sent it back.
_REQUEUED = {
    "status": JobStatus.QUEUED.value,
    "progress": progress_from_now(),
    "progress_at": NOW,
    "deadline_at": bindparam("deadline_at", type_=DateTime(timezone=True)),
    **NO_LEASE_NULLS,
    "metadata": merged_meta(),
}
_REQUEUE = update_job(*held_by_attempt(), **_REQUEUED)


class Fault(TypedDict):
    """Why an attempt puts its job back in the queue, and when to try again: what both ways
    back (`requeue_job`, `give_attempt_back`) take."""

    attempt: int  # the attempt that claimed the job: the fence
    retry_in_seconds: float
    code: str
    message: str


def _requeue_params(job_id: int, now: datetime, fault: Fault) -> dict[str, Any]:
    return transition_params(
        job_id, now, attempt=fault["attempt"],
        deadline_at=queue_deadline(now + timedelta(seconds=fault["retry_in_seconds"])),
        meta={"lastError": _last_error(fault)})


def _last_error(fault: Fault) -> dict[str, str]:
    return {"code": fault["code"], "message": fault["message"]}


def requeue_job(db_session: Session, job_id: int, **fault: Unpack[Fault]) -> JobRow | None:
    """Put a job whose attempt hit a transient fault back in the queue for a later attempt.

    The progress shown at this moment is stored, so the next attempt's display starts from it
    instead of going back.
    """
    requeued: JobRow | None = run_transition(
        db_session, _REQUEUE, Change.REQUEUED, _requeue_params(job_id, utcnow(), fault))
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


_GIVE_ATTEMPT_BACK = update_job(
    *held_by_attempt(),
    job.started_at > bindparam("round_started_after", type_=DateTime(timezone=True)),
    attempts_before_round=job.attempts_before_round + 1,
    **_REQUEUED,
)


def give_attempt_back(db_session: Session, job_id: int,
                      **fault: Unpack[Fault]) -> JobRow | None:
    """Put the attempt's job back in the queue without spending the attempt (see the rule
    above); past the round's time budget, fail and refund it instead. The job in its new state
    (queued: the caller publishes its task again; failed), or None if it was no longer this
    attempt's."""
    now = utcnow()
    requeued: JobRow | None = run_transition(
        db_session, _GIVE_ATTEMPT_BACK, Change.REQUEUED,
        {**_requeue_params(job_id, now, fault),
         "round_started_after": now - timedelta(seconds=round_time_budget_seconds())})
    if requeued is not None:
        return requeued
    # Not this attempt's any more (the ending's fence says so too), or past the budget.
    return time_out_job(db_session, job_id, attempt=fault["attempt"],
                        last_error=_last_error(fault))
