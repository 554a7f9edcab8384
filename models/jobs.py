"""The only code that moves a job between states (see the diagram in `models/generations.py`).

Every transition is one conditional UPDATE: it happens only from the state it expects, and
worker-side transitions also name the attempt that claimed the job, so a redelivered or stale
task can never complete, fail or refund a job twice. Every transition that happens is recorded
through `record_change`, the one path to what follows a committed change.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, func, literal, or_, select, text, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from config import get_settings
from models.clock import utcnow
from models.credits import (
    EntryType,
    Movement,
    charge_for_generation,
    note_movements,
    refund_generation,
    refusal,
)
from models.generations import IN_FLIGHT, GenerationStatus, HeadshotGeneration
from models.job_changes import Change, record_change
from models.leases import NO_LEASE, lease_ran_out, new_lease
from models.progress import (
    PROGRESS_CLAIMED,
    PROGRESS_DONE,
    PROGRESS_FREEZE_LEAD_SECONDS,
    displayed_progress,
)
from models.styles import OfferedStyle
from models.uploads import Upload, find_usable_upload
from models.users import User

# ---- the attempt policy ------------------------------------------------------------------------


def may_attempt_again(attempts_this_round: int) -> bool:
    """Whether a job that has had that many attempts in its round may have another one."""
    return attempts_this_round < get_settings().getimg_max_attempts


def _has_attempts_left() -> Any:
    """`may_attempt_again`, as a SQL condition on the row."""
    return (HeadshotGeneration.attempts - HeadshotGeneration.attempts_before_round
            < get_settings().getimg_max_attempts)


def queue_deadline(queued_from: datetime) -> datetime:
    """When a job that joins the queue at `queued_from` counts as lost to the reaper."""
    return queued_from + timedelta(seconds=get_settings().job_queue_timeout_seconds)


# ---- creation (API side) -------------------------------------------------------------------


def create_generation(
    db_session: Session,
    *,
    user_id: int,
    upload: Upload,
    style: OfferedStyle,
    aspect_ratio: str,
) -> HeadshotGeneration:
    """Create a queued job and charge for it, in the caller's transaction (commit to keep both)."""
    return create_generations(db_session, user_id=user_id, storage_key=upload.storage_key,
                              styles=[style], aspect_ratio=aspect_ratio)[0]


def create_generations(
    db_session: Session,
    *,
    user_id: int,
    storage_key: str,
    styles: Sequence[OfferedStyle],
    aspect_ratio: str,
    new_batch_id: uuid.UUID | None = None,
    email: str | None = None,
) -> list[HeadshotGeneration]:
    """Create one queued job per style (their ids in the order of `styles`) from the user's
    upload behind `storage_key` and charge for each, in the caller's transaction (commit to
    keep them): all or none. Refused as `find_usable_upload` refuses (the upload is not the
    user's, or is gone), else 402 when the balance cannot pay for them all.
    `new_batch_id`: the jobs make up a new batch of that id. `email`: keep the user's one
    current with the charge.

    One statement, one round trip however many styles (`_CHARGED_JOBS`), the upload's check
    and share-lock included.
    """
    now = utcnow()
    total = sum(style.credit_cost for style in styles)
    rows = db_session.execute(_charged_jobs(), {
        "user_id": user_id, "total": total, "email": email, "storage_key": storage_key,
        "styles": [style.id for style in styles],
        "costs": [style.credit_cost for style in styles],
        "descriptions": [f"{style.name} headshot" for style in styles],
        "aspect_ratio": aspect_ratio, "now": now, "deadline": queue_deadline(now),
        "batch_id": str(new_batch_id) if new_batch_id else None, "size": len(styles),
    }).all()
    if not rows:
        # Nothing written: say why, the upload first (as it was checked before the charge).
        find_usable_upload(db_session, user_id=user_id, storage_key=storage_key)
        raise refusal(db_session, user_id=user_id, amount=-total)
    generations = [generation for generation, _ in rows]
    upload = rows[0][1]
    note_movements(db_session, [Movement(EntryType.HEADSHOT, -generation.credit_cost)
                                for generation in generations])
    for generation in generations:
        set_committed_value(generation, "upload", upload)  # loaded: the reply shows it
        record_change(db_session, generation, Change.CREATED)
    return generations


# The charge and the jobs it pays for, as one statement: the upload, share-locked while usable
# (the rule and the lock of `models/uploads.find_usable_upload`: the user's own, neither deleted
# nor expired; a racing delete either commits first and the lock's recheck sees it deleted, or
# waits for this transaction), the balance's conditional UPDATE (the rule of
# `models/credits.balance_update`: it matches no row when the balance is short or the upload not
# usable, and then nothing else is written either), the batch row when they make one (the
# jobs' foreign key is checked at the end of the statement), one queued job per asked style
# in their order (the rest of the row: the table's defaults), one ledger row per job carrying
# the balance after it, as if charged one after the other, and each job's `headshot_started`
# event (which record_change writes for the other changes). Plain SQL, so building and
# compiling it costs nothing per request (as a SQLAlchemy expression it was a third of an
# accept's CPU).
_JOB_COLUMNS = ", ".join(column.name for column in cast(Table, HeadshotGeneration.__table__).c)
_JOBS_COLUMNS = ", ".join(f"jobs.{column.name}"
                          for column in cast(Table, HeadshotGeneration.__table__).c)
_UPLOAD_COLUMNS = ", ".join(f"upload.{column.name}"
                            for column in cast(Table, Upload.__table__).c)
_CHARGED_JOBS_SQL = f"""
WITH upload AS (
    SELECT * FROM uploads
    WHERE storage_key = :storage_key AND user_id = :user_id
        AND deleted_at IS NULL AND expires_at > :now
    FOR SHARE
), charged AS (
    UPDATE users
    SET credits = credits - :total,
        total_credits_spent = total_credits_spent + :total,
        email = COALESCE(CAST(:email AS VARCHAR), email)
    WHERE id = :user_id AND credits >= :total AND EXISTS (SELECT FROM upload)
    RETURNING credits AS balance
), asked AS (
    SELECT * FROM unnest(CAST(:styles AS VARCHAR[]), CAST(:costs AS INTEGER[]),
                         CAST(:descriptions AS VARCHAR[]))
                  WITH ORDINALITY AS asked (style, cost, description, ordinal)
), batch AS (
    INSERT INTO headshot_batches (id, user_id, size, created_at)
    SELECT CAST(:batch_id AS UUID), :user_id, :size, :now
    FROM charged WHERE CAST(:batch_id AS UUID) IS NOT NULL
), jobs AS (
    INSERT INTO headshot_generations (user_id, upload_id, style, aspect_ratio, status, progress,
        progress_at, result_keys, credit_cost, metadata, batch_id, created_at, deadline_at)
    SELECT :user_id, upload.id, asked.style, :aspect_ratio, 'queued', 0, :now,
        '[]'::jsonb, asked.cost, '{{}}'::jsonb, CAST(:batch_id AS UUID), :now, :deadline
    FROM asked CROSS JOIN charged CROSS JOIN upload
    ORDER BY asked.ordinal
    RETURNING {_JOB_COLUMNS}
), ledger AS (
    INSERT INTO credit_histories (user_id, generation_id, generation_round, type, amount,
        balance_after, description)
    SELECT jobs.user_id, jobs.id, jobs.retry_count, 'headshot', -jobs.credit_cost,
        charged.balance + COALESCE(SUM(jobs.credit_cost) OVER (
            ORDER BY jobs.id DESC ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0),
        asked.description
    FROM jobs JOIN asked ON asked.style = jobs.style CROSS JOIN charged
    ORDER BY jobs.id
), started AS (
    INSERT INTO events (name, source, user_id, generation_id, properties, created_at)
    SELECT 'headshot_started', 'service', jobs.user_id, jobs.id,
        jsonb_build_object('style', jobs.style), :now
    FROM jobs ORDER BY jobs.id
)
SELECT {_JOBS_COLUMNS}, {_UPLOAD_COLUMNS} FROM jobs CROSS JOIN upload ORDER BY jobs.id
"""


@functools.cache
def _charged_jobs() -> Any:
    # The columns matched by position: the job's and the upload's share names (id, user_id...).
    return select(HeadshotGeneration, Upload).from_statement(
        text(_CHARGED_JOBS_SQL).columns(*cast(Table, HeadshotGeneration.__table__).c,
                                        *cast(Table, Upload.__table__).c))


def charge_round(db_session: Session, generation: HeadshotGeneration, description: str) -> None:
    """Charge for the job's current round (a user retry opens a new one)."""
    _round_entry(db_session, generation, charge_for_generation, description)


def _round_entry(db_session: Session, generation: HeadshotGeneration,
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


def _transition(db_session: Session, generation_id: int, change: Change, *conditions: Any,
                **values: Any) -> HeadshotGeneration | None:
    """Move the job if it meets `conditions`; record the change; None if it did not move."""
    statement = (
        update(HeadshotGeneration)
        .where(HeadshotGeneration.id == generation_id, *conditions)
        .values(**values)
        .returning(HeadshotGeneration)
        # The returned row replaces any stale copy of it already in the session.
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    generation = db_session.execute(statement).scalar_one_or_none()
    if generation is not None:
        record_change(db_session, generation, change)
    return generation


def _progress_from_now(db_session: Session, generation_id: int, milestone: int) -> Any:
    """The progress to store with a new milestone: never below what readers show right now,
    nor in the moment (PROGRESS_FREEZE_LEAD_SECONDS) before the new state reaches them.

    Storing a milestone restarts the estimate's clock, so storing less than the estimate
    shown at this moment would make the bar go back. Locks the row for the transition.
    """
    row = db_session.execute(
        select(HeadshotGeneration.status, HeadshotGeneration.progress,
               HeadshotGeneration.progress_at)
        .where(HeadshotGeneration.id == generation_id)
        .with_for_update()
    ).one_or_none()
    shown = (
        displayed_progress(row.status, row.progress, row.progress_at.timestamp(),
                           utcnow().timestamp() + PROGRESS_FREEZE_LEAD_SECONDS,
                           expected_seconds=get_settings().getimg_expected_seconds)
        if row is not None else 0
    )
    return func.greatest(HeadshotGeneration.progress, milestone, shown)


def _merged_meta(extra: dict[str, Any]) -> Any:
    return HeadshotGeneration.meta.op("||")(literal(extra, JSONB))


def _overdue(now: datetime) -> Any:
    """In flight past its deadline, or processing by an attempt whose lease ran out."""
    return and_(HeadshotGeneration.status.in_(IN_FLIGHT),
                or_(HeadshotGeneration.deadline_at < now, lease_ran_out(now)))


def _claimable(now: datetime) -> tuple[Any, ...]:
    return (
        HeadshotGeneration.deleted_at.is_(None),
        _has_attempts_left(),
        or_(HeadshotGeneration.status == GenerationStatus.QUEUED, _overdue(now)),
    )


def is_claimable(db_session: Session, generation_id: int) -> bool:
    """Whether `claim_generation` would take the job now (a read: a duplicate message need
    not wait for a GetImg slot only to find nothing to do)."""
    return db_session.scalar(
        select(HeadshotGeneration.id)
        .where(HeadshotGeneration.id == generation_id, *_claimable(utcnow()))
    ) is not None


def claim_generation(db_session: Session, generation_id: int, *,
                     lease_owner: str | None = None) -> HeadshotGeneration | None:
    """Take a queued job (or one whose attempt missed its deadline or lost its lease) for one
    new attempt, which holds the job's lease from now on (`models/leases.py`)."""
    now = utcnow()
    return _transition(
        db_session,
        generation_id,
        Change.CLAIMED,
        *_claimable(now),
        status=GenerationStatus.PROCESSING.value,
        attempts=HeadshotGeneration.attempts + 1,
        started_at=func.coalesce(HeadshotGeneration.started_at, now),
        deadline_at=now + timedelta(seconds=get_settings().job_processing_timeout_seconds),
        **new_lease(now, lease_owner),
        progress=_progress_from_now(db_session, generation_id, PROGRESS_CLAIMED),
        progress_at=now,
    )


def _held_by(attempt: int) -> tuple[Any, ...]:
    return (
        HeadshotGeneration.status == GenerationStatus.PROCESSING,
        HeadshotGeneration.attempts == attempt,
    )


def record_progress(
    db_session: Session, generation_id: int, *, attempt: int, progress: int
) -> HeadshotGeneration | None:
    return _transition(
        db_session,
        generation_id,
        Change.PROGRESSED,
        *_held_by(attempt),
        progress=_progress_from_now(db_session, generation_id, progress),
        progress_at=utcnow(),
    )


def complete_generation(
    db_session: Session,
    generation_id: int,
    *,
    attempt: int,
    result_keys: list[str],
    thumbnail_key: str,
    metadata: dict[str, Any],
) -> HeadshotGeneration | None:
    """Mark the attempt's job completed; None if the job is no longer this attempt's to finish."""
    now = utcnow()
    generation = _transition(
        db_session,
        generation_id,
        Change.COMPLETED,
        *_held_by(attempt),
        HeadshotGeneration.deleted_at.is_(None),
        status=GenerationStatus.COMPLETED.value,
        progress=PROGRESS_DONE,
        progress_at=now,
        result_keys=result_keys,
        thumbnail_key=thumbnail_key,
        meta=_merged_meta(metadata),
        completed_at=now,
        deadline_at=None,
        **NO_LEASE,
        error_code=None,
        error_message=None,
    )
    if generation is not None:
        db_session.execute(
            update(User)
            .where(User.id == generation.user_id)
            .values(total_headshots_generated=User.total_headshots_generated + 1)
        )
    return generation


def fail_generation(
    db_session: Session,
    generation_id: int,
    *,
    code: str,
    message: str,
    metadata: dict[str, Any] | None = None,
    attempt: int | None = None,
) -> HeadshotGeneration | None:
    """Mark an in-flight job failed and refund it in the same transaction.

    With `attempt`, only that attempt may fail it (a worker); without, any in-flight job (the
    reaper, or a publish that never reached the broker).
    """
    conditions = (
        _held_by(attempt)
        if attempt is not None
        else (HeadshotGeneration.status.in_(IN_FLIGHT),)
    )
    return _end_refunded(db_session, generation_id, Change.FAILED, *conditions, code=code,
                         message=message, metadata=metadata or {})


CANCELLED = "cancelled"
CANCELLED_MESSAGE = "Cancelled; your credits were refunded."


def cancel_generation(db_session: Session, generation_id: int) -> HeadshotGeneration | None:
    """The owner's cancel: an in-flight job ends failed (code `cancelled`) and is refunded
    now; a worker still busy with it finds it no longer its own and keeps nothing. None if
    it had already ended."""
    return _end_refunded(db_session, generation_id, Change.CANCELLED,
                         HeadshotGeneration.status.in_(IN_FLIGHT), code=CANCELLED,
                         message=CANCELLED_MESSAGE, metadata={})


def _end_refunded(db_session: Session, generation_id: int, change: Change, *conditions: Any,
                  code: str, message: str, metadata: dict[str, Any]
                  ) -> HeadshotGeneration | None:
    now = utcnow()
    generation = _transition(
        db_session,
        generation_id,
        change,
        *conditions,
        status=GenerationStatus.FAILED.value,
        # What the bar shows now, frozen: a failed job's bar stops, it does not step back.
        progress=_progress_from_now(db_session, generation_id, 0),
        progress_at=now,
        error_code=code,
        error_message=message,
        meta=_merged_meta(metadata),
        completed_at=now,
        deadline_at=None,
        **NO_LEASE,
    )
    if generation is not None:
        _round_entry(db_session, generation, refund_generation, f"refund: {message}"[:500])
    return generation


def requeue_generation(
    db_session: Session,
    generation_id: int,
    *,
    attempt: int,
    retry_in_seconds: float,
    code: str,
    message: str,
) -> HeadshotGeneration | None:
    """Put a job whose attempt hit a transient fault back in the queue for a later attempt.

    The progress shown at this moment is stored, so the next attempt's display starts from it
    instead of going back.
    """
    now = utcnow()
    return _transition(
        db_session,
        generation_id,
        Change.REQUEUED,
        *_held_by(attempt),
        status=GenerationStatus.QUEUED.value,
        progress=_progress_from_now(db_session, generation_id, 0),
        progress_at=now,
        deadline_at=queue_deadline(now + timedelta(seconds=retry_in_seconds)),
        **NO_LEASE,
        meta=_merged_meta({"lastError": {"code": code, "message": message}}),
    )


def requeue_failed_generation(db_session: Session, generation_id: int
                              ) -> HeadshotGeneration | None:
    """A user's retry: a failed job back in the queue for a new round (the caller charges it);
    None if it is not failed (any more)."""
    now = utcnow()
    return _transition(
        db_session,
        generation_id,
        Change.RETRIED,
        HeadshotGeneration.status == GenerationStatus.FAILED,
        status=GenerationStatus.QUEUED.value,
        retry_count=HeadshotGeneration.retry_count + 1,
        attempts_before_round=HeadshotGeneration.attempts,
        progress=0,
        progress_at=now,
        error_code=None,
        error_message=None,
        meta={},
        started_at=None,
        completed_at=None,
        deadline_at=queue_deadline(now),
    )


# ---- the reaper -------------------------------------------------------------------------------


def overdue_generation_ids(db_session: Session, *, limit: int = 500) -> list[int]:
    """In-flight jobs past their deadline or lease: a lost message, a dead or hung worker."""
    return list(db_session.scalars(
        select(HeadshotGeneration.id)
        .where(_overdue(utcnow()))
        .order_by(HeadshotGeneration.deadline_at)
        .limit(limit)
    ))


def release_overdue_generation(db_session: Session, generation_id: int
                               ) -> HeadshotGeneration | None:
    """Put an overdue job back in the queue, or fail and refund it if its attempts are spent.

    Returns the job in its new state (queued: the caller publishes its task again), or None
    if it was no longer overdue (finished or taken meanwhile).
    """
    now = utcnow()
    overdue = (_overdue(now),)
    requeued = _transition(
        db_session,
        generation_id,
        Change.REQUEUED,
        *overdue,
        _has_attempts_left(),
        status=GenerationStatus.QUEUED.value,
        progress=_progress_from_now(db_session, generation_id, 0),
        progress_at=now,
        deadline_at=queue_deadline(now),
        **NO_LEASE,
    )
    if requeued is not None:
        return requeued
    still_overdue = db_session.scalar(
        select(HeadshotGeneration.id).where(HeadshotGeneration.id == generation_id, *overdue)
    )
    if still_overdue is None:
        return None
    return fail_generation(
        db_session, generation_id, code="timed_out",
        message="The headshot could not be generated in time; your credits were refunded.",
    )
