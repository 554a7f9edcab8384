"""Headshot generations and the only code that moves them between states.

    queued ──claim──▶ processing ──complete──▶ completed
       ▲                  │ │
       └──requeue─────────┘ └──fail (refund in the same transaction)──▶ failed

Every transition is one conditional UPDATE: it happens only from the state it expects, and
worker-side transitions also name the attempt that claimed the job, so a redelivered or stale
task can never complete, fail or refund a job twice.
"""

from __future__ import annotations

import enum
import math
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    and_,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship, selectinload

from config import get_settings
from models.base import Base, utcnow
from models.credits import charge_for_generation, refund_generation
from models.errors import Conflict, NotFound
from models.styles import Style
from models.uploads import Upload
from models.users import User

ASPECT_RATIOS = ("1:1", "4:5", "2:3", "3:4", "9:16")

# Stored progress milestones. While the worker waits on GetImg (stored progress in
# [WAITING, RECEIVED)) readers show an estimate that rises towards RECEIVED with elapsed time.
PROGRESS_CLAIMED = 5
PROGRESS_ORIGINAL_READY = 10
PROGRESS_WAITING = 15
PROGRESS_RECEIVED = 85
PROGRESS_STORED = 95
PROGRESS_DONE = 100
# A transition that freezes the estimate (requeue, fail, the reaper's release) stores the value
# it will show this far ahead: readers keep seeing the rising estimate of the old snapshot until
# the new one is committed and published, and the bar must not step back when it lands.
PROGRESS_FREEZE_LEAD_SECONDS = 1.0


class GenerationStatus(enum.StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


IN_FLIGHT = (GenerationStatus.QUEUED.value, GenerationStatus.PROCESSING.value)


class HeadshotGeneration(Base):
    __tablename__ = "headshot_generations"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'processing', 'completed', 'failed')", name="status_known"
        ),
        CheckConstraint("progress BETWEEN 0 AND 100", name="progress_range"),
        # History: a user's live jobs, newest first.
        Index(
            "ix_headshot_generations_user_history",
            "user_id",
            text("id DESC"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
        # Reaper: in-flight jobs by deadline.
        Index(
            "ix_headshot_generations_in_flight_deadline",
            "status",
            "deadline_at",
            postgresql_where=text("status IN ('queued', 'processing')"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    upload_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("uploads.id"))
    style: Mapped[str] = mapped_column(ForeignKey("styles.id"))
    aspect_ratio: Mapped[str] = mapped_column(String(8), default="1:1")
    status: Mapped[str] = mapped_column(String(20), default=GenerationStatus.QUEUED.value)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    progress_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    result_keys: Mapped[list[str]] = mapped_column(JSONB, default=list)
    thumbnail_key: Mapped[str | None] = mapped_column(String(200))
    is_favorite: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    retry_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    credit_cost: Mapped[int] = mapped_column(Integer)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, default=dict)
    batch_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deadline_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    upload: Mapped[Upload | None] = relationship(lazy="raise")

    @property
    def stored_keys(self) -> list[str]:
        return [*self.result_keys, *([self.thumbnail_key] if self.thumbnail_key else [])]


@dataclass(frozen=True)
class StatusSnapshot:
    """What a status poll needs, small enough to live in Redis between state changes."""

    id: int
    user_id: int
    status: str
    progress: int
    progress_at: float
    created_at: float
    started_at: float | None = None
    result_keys: list[str] = field(default_factory=list)
    thumbnail_key: str | None = None
    error_code: str | None = None
    error_message: str | None = None

    @classmethod
    def of(cls, generation: HeadshotGeneration) -> StatusSnapshot:
        return cls(
            id=generation.id,
            user_id=generation.user_id,
            status=generation.status,
            progress=generation.progress,
            progress_at=generation.progress_at.timestamp(),
            created_at=generation.created_at.timestamp(),
            started_at=generation.started_at.timestamp() if generation.started_at else None,
            result_keys=list(generation.result_keys or []),
            thumbnail_key=generation.thumbnail_key,
            error_code=generation.error_code,
            error_message=generation.error_message,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def finished(self) -> bool:
        return self.status in (GenerationStatus.COMPLETED, GenerationStatus.FAILED)

    def displayed_progress(self, now: float) -> int:
        return displayed_progress(self.status, self.progress, self.progress_at, now)


def displayed_progress(status: str, stored: int, progress_at: float, now: float) -> int:
    """The progress a reader shows: the stored milestone, or while GetImg works, an estimate.

    The estimate rises from the stored value towards PROGRESS_RECEIVED - 1 as a fixed function
    of the time since the milestone was stored, so consecutive reads never go down, and the next
    milestone the worker stores is never below it.
    """
    if status != GenerationStatus.PROCESSING or not PROGRESS_WAITING <= stored < PROGRESS_RECEIVED:
        return stored
    elapsed = max(0.0, now - progress_at)
    share = 1.0 - math.exp(-elapsed / get_settings().getimg_expected_seconds)
    return min(PROGRESS_RECEIVED - 1, stored + int((PROGRESS_RECEIVED - 1 - stored) * share))


# ---- creation (API side) -------------------------------------------------------------------


def create_generation(
    db_session: Session,
    *,
    user_id: int,
    upload: Upload,
    style: Style,
    aspect_ratio: str,
    batch_id: uuid.UUID | None = None,
) -> HeadshotGeneration:
    """Create a queued job and charge for it, in the caller's transaction (commit to keep both)."""
    now = utcnow()
    generation = HeadshotGeneration(
        user_id=user_id,
        upload=upload,
        style=style.id,
        aspect_ratio=aspect_ratio,
        status=GenerationStatus.QUEUED.value,
        progress=0,
        progress_at=now,
        result_keys=[],
        credit_cost=style.credit_cost,
        meta={},
        batch_id=batch_id,
        created_at=now,
        deadline_at=_queue_deadline(now),
    )
    db_session.add(generation)
    db_session.flush()
    _charge(db_session, generation, f"{style.name} headshot")
    return generation


def _queue_deadline(queued_from: datetime) -> datetime:
    """When a job that joins the queue at `queued_from` counts as lost to the reaper."""
    return queued_from + timedelta(seconds=get_settings().job_queue_timeout_seconds)


def _charge(db_session: Session, generation: HeadshotGeneration, description: str) -> None:
    """Charge for the job's current round (a user retry opens a new one)."""
    charge_for_generation(
        db_session,
        user_id=generation.user_id,
        cost=generation.credit_cost,
        generation_id=generation.id,
        generation_round=generation.retry_count,
        description=description,
    )


# ---- worker-side transitions -----------------------------------------------------------------


def _transition(db_session: Session, generation_id: int, *conditions: Any, **values: Any
                ) -> HeadshotGeneration | None:
    statement = (
        update(HeadshotGeneration)
        .where(HeadshotGeneration.id == generation_id, *conditions)
        .values(**values)
        .returning(HeadshotGeneration)
        # The returned row replaces any stale copy of it already in the session.
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    return db_session.execute(statement).scalar_one_or_none()


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
                           utcnow().timestamp() + PROGRESS_FREEZE_LEAD_SECONDS)
        if row is not None else 0
    )
    return func.greatest(HeadshotGeneration.progress, milestone, shown)


def _merged_meta(extra: dict[str, Any]) -> Any:
    return HeadshotGeneration.meta.op("||")(literal(extra, JSONB))


def claim_generation(db_session: Session, generation_id: int) -> HeadshotGeneration | None:
    """Take a queued job (or one whose worker missed its deadline) for one new attempt."""
    now = utcnow()
    settings = get_settings()
    status = HeadshotGeneration.status
    return _transition(
        db_session,
        generation_id,
        HeadshotGeneration.deleted_at.is_(None),
        HeadshotGeneration.attempts < settings.getimg_max_attempts,
        or_(
            status == GenerationStatus.QUEUED,
            and_(status == GenerationStatus.PROCESSING, HeadshotGeneration.deadline_at < now),
        ),
        status=GenerationStatus.PROCESSING.value,
        attempts=HeadshotGeneration.attempts + 1,
        started_at=func.coalesce(HeadshotGeneration.started_at, now),
        deadline_at=now + timedelta(seconds=settings.job_processing_timeout_seconds),
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
    generation = _transition(
        db_session,
        generation_id,
        *conditions,
        status=GenerationStatus.FAILED.value,
        # What the bar shows now, frozen: a failed job's bar stops, it does not step back.
        progress=_progress_from_now(db_session, generation_id, 0),
        progress_at=utcnow(),
        error_code=code,
        error_message=message,
        meta=_merged_meta(metadata or {}),
        completed_at=utcnow(),
        deadline_at=None,
    )
    if generation is not None:
        refund_generation(
            db_session,
            user_id=generation.user_id,
            cost=generation.credit_cost,
            generation_id=generation.id,
            generation_round=generation.retry_count,
            description=f"refund: {message}"[:500],
        )
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
    retry_at = utcnow() + timedelta(seconds=retry_in_seconds)
    return _transition(
        db_session,
        generation_id,
        *_held_by(attempt),
        status=GenerationStatus.QUEUED.value,
        progress=_progress_from_now(db_session, generation_id, 0),
        progress_at=utcnow(),
        deadline_at=_queue_deadline(retry_at),
        meta=_merged_meta({"lastError": {"code": code, "message": message}}),
    )


# ---- the reaper -------------------------------------------------------------------------------


def overdue_generation_ids(db_session: Session, *, limit: int = 500) -> list[int]:
    """In-flight jobs past their deadline: a lost message, a dead or hung worker."""
    return list(db_session.scalars(
        select(HeadshotGeneration.id)
        .where(HeadshotGeneration.status.in_(IN_FLIGHT),
               HeadshotGeneration.deadline_at < utcnow())
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
    settings = get_settings()
    overdue = (HeadshotGeneration.status.in_(IN_FLIGHT), HeadshotGeneration.deadline_at < now)
    requeued = _transition(
        db_session,
        generation_id,
        *overdue,
        HeadshotGeneration.attempts < settings.getimg_max_attempts,
        status=GenerationStatus.QUEUED.value,
        progress=_progress_from_now(db_session, generation_id, 0),
        progress_at=now,
        deadline_at=_queue_deadline(now),
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


# ---- reads and user actions (API side) -------------------------------------------------------


def get_generation(db_session: Session, *, user_id: int, generation_id: int) -> HeadshotGeneration:
    """The user's own live job; anybody else's, or a deleted one, is simply not found."""
    generation = db_session.execute(
        select(HeadshotGeneration)
        .options(selectinload(HeadshotGeneration.upload))
        .where(
            HeadshotGeneration.id == generation_id,
            HeadshotGeneration.user_id == user_id,
            HeadshotGeneration.deleted_at.is_(None),
        )
    ).scalar_one_or_none()
    if generation is None:
        raise NotFound(f"headshot {generation_id} not found")
    return generation


def list_generations(
    db_session: Session,
    *,
    user_id: int,
    limit: int,
    before_id: int | None = None,
    status: GenerationStatus | None = None,
    style: str | None = None,
    favorite: bool | None = None,
) -> list[HeadshotGeneration]:
    query = (
        select(HeadshotGeneration)
        .options(selectinload(HeadshotGeneration.upload))
        .where(HeadshotGeneration.user_id == user_id, HeadshotGeneration.deleted_at.is_(None))
    )
    if before_id is not None:
        query = query.where(HeadshotGeneration.id < before_id)
    if status is not None:
        query = query.where(HeadshotGeneration.status == status.value)
    if style is not None:
        query = query.where(HeadshotGeneration.style == style)
    if favorite is not None:
        query = query.where(HeadshotGeneration.is_favorite.is_(favorite))
    return list(db_session.scalars(query.order_by(HeadshotGeneration.id.desc()).limit(limit)))


def retry_generation(db_session: Session, *, user_id: int, generation_id: int
                     ) -> HeadshotGeneration:
    """Queue a failed job again from its original, and charge for it again (a new round)."""
    generation = get_generation(db_session, user_id=user_id, generation_id=generation_id)
    if generation.status != GenerationStatus.FAILED:
        raise Conflict(f"only a failed headshot can be retried; this one is {generation.status}",
                       code="not_failed")
    if generation.upload is None or not generation.upload.available:
        raise Conflict("the original photo has expired; upload it again", code="original_expired")
    now = utcnow()
    retried = _transition(
        db_session,
        generation_id,
        HeadshotGeneration.status == GenerationStatus.FAILED,
        status=GenerationStatus.QUEUED.value,
        retry_count=HeadshotGeneration.retry_count + 1,
        attempts=0,
        progress=0,
        progress_at=now,
        error_code=None,
        error_message=None,
        meta={},
        started_at=None,
        completed_at=None,
        deadline_at=_queue_deadline(now),
    )
    if retried is None:  # retried by a racing request a moment ago
        raise Conflict("this headshot is already being retried", code="not_failed")
    _charge(db_session, retried, f"retry of headshot {retried.id}")
    return get_generation(db_session, user_id=user_id, generation_id=generation_id)


def delete_generation(db_session: Session, *, user_id: int, generation_id: int) -> list[str]:
    """Hide a finished job from its owner for good; returns the storage keys to delete.

    The row itself stays (soft delete) so the ledger keeps pointing at what was paid for.
    A job still in flight cannot be deleted: its result would arrive into nothing.
    """
    generation = get_generation(db_session, user_id=user_id, generation_id=generation_id)
    if generation.status in IN_FLIGHT:
        raise Conflict("this headshot is still being generated; delete it once it has finished",
                       code="generation_in_progress")
    keys = generation.stored_keys
    generation.deleted_at = utcnow()
    generation.result_keys = []
    generation.thumbnail_key = None
    db_session.flush()
    return keys
