"""The job's table and its states: one row of headshot_generations per headshot job (the
table keeps its historic name), its status, and the reads every part of the package shares.

The state diagram and which module moves a job along it: `models/job/__init__.py`.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime
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
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship, selectinload
from sqlalchemy.sql import Select

from models.base import Base
from models.clock import utcnow
from models.errors import NotFound
from models.uploads import Upload


class AspectRatio(enum.StrEnum):
    """The shapes on offer, width:height."""

    # Named by their figures: a generated client reads `RATIO_4_5`, never a position.
    RATIO_1_1 = "1:1"
    RATIO_4_5 = "4:5"
    RATIO_2_3 = "2:3"
    RATIO_3_4 = "3:4"
    RATIO_9_16 = "9:16"


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


IN_FLIGHT = (JobStatus.QUEUED.value, JobStatus.PROCESSING.value)
FINISHED = (JobStatus.COMPLETED.value, JobStatus.FAILED.value)


class Job(Base):
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
        Index("ix_headshot_generations_created_at", "created_at"),  # analytics by day
        # Reaper: in-flight jobs by deadline.
        Index(
            "ix_headshot_generations_in_flight_deadline",
            "status",
            "deadline_at",
            postgresql_where=text("status IN ('queued', 'processing')"),
        ),
        # Reaper: running attempts whose lease ran out (a dead worker).
        Index(
            "ix_headshot_generations_processing_lease",
            "lease_expires_at",
            postgresql_where=text("status = 'processing'"),
        ),
        # The failures, newest failure first (GET /api/admin/failures, models/admin_reads.py).
        Index(
            "ix_headshot_generations_failed_at",
            text("completed_at DESC"),
            text("id DESC"),
            postgresql_where=text("status = 'failed'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    upload_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("uploads.id"))
    style: Mapped[str] = mapped_column(ForeignKey("styles.id"))
    aspect_ratio: Mapped[str] = mapped_column(String(8), default="1:1")
    status: Mapped[str] = mapped_column(String(20), default=JobStatus.QUEUED.value)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    progress_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    result_keys: Mapped[list[str]] = mapped_column(JSONB, default=list)
    thumbnail_key: Mapped[str | None] = mapped_column(String(200))
    # The images' sizes in pixels, recorded when they are written: [width, height] per result
    # (in result_keys' order) and the thumbnail's. NULL for jobs completed before the columns
    # (their sizes are not known without reading the files) and for jobs without results.
    result_sizes: Mapped[list[list[int]] | None] = mapped_column(JSONB)
    thumbnail_width: Mapped[int | None] = mapped_column(Integer)
    thumbnail_height: Mapped[int | None] = mapped_column(Integer)
    # The "before" of a swipe-to-compare: the selfie's centre cut to the job's aspect ratio,
    # written with the results (one file per job, deleted with them) and its size. NULL for
    # jobs completed before the columns: their before image is the upload's preview.
    before_key: Mapped[str | None] = mapped_column(String(200))
    before_width: Mapped[int | None] = mapped_column(Integer)
    before_height: Mapped[int | None] = mapped_column(Integer)
    is_favorite: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    retry_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Attempts count up across rounds (a user retry opens a new round), so an attempt number
    # names one attempt for good; this round's are those after `attempts_before_round`.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    attempts_before_round: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    credit_cost: Mapped[int] = mapped_column(Integer)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, default=dict)
    batch_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("headshot_batches.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deadline_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # While processing: the running attempt's lease, renewed while it works (models/job/leases.py),
    # and who holds it (host and process, for operators; the attempt number is the fence).
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    upload: Mapped[Upload | None] = relationship(lazy="raise")

    @property
    def attempts_this_round(self) -> int:
        return self.attempts - self.attempts_before_round

    @property
    def stored_keys(self) -> list[str]:
        return [*self.result_keys,
                *(key for key in (self.thumbnail_key, self.before_key) if key)]


@dataclass(frozen=True)
class JobRow:
    """A job's row as a plain value: what a transition (`models/job/attempts.py`,
    `models/job/endings.py`, `models/job/reaper.py`) reads back from its UPDATE (RETURNING),
    without building an ORM object. The readers of a job's state (`record_change`, the status
    snapshot, the ledger) take either."""

    id: int
    user_id: int
    upload_id: uuid.UUID | None
    style: str
    aspect_ratio: str
    status: str
    progress: int
    progress_at: datetime
    result_keys: list[str]
    thumbnail_key: str | None
    result_sizes: list[list[int]] | None
    thumbnail_width: int | None
    thumbnail_height: int | None
    before_key: str | None
    before_width: int | None
    before_height: int | None
    is_favorite: bool
    error_code: str | None
    error_message: str | None
    retry_count: int
    attempts: int
    attempts_before_round: int
    credit_cost: int
    meta: dict[str, Any]
    batch_id: uuid.UUID | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    deadline_at: datetime | None
    lease_expires_at: datetime | None
    lease_owner: str | None
    deleted_at: datetime | None

    @property
    def attempts_this_round(self) -> int:
        return self.attempts - self.attempts_before_round


def live_of(user_id: int, *, include_deleted: bool = False) -> Select[Job]:
    """The user's jobs that are not deleted (with `include_deleted`, all of them), with
    their uploads loaded."""
    query = (
        select(Job)
        .options(selectinload(Job.upload))
        .where(Job.user_id == user_id)
    )
    return query if include_deleted else query.where(Job.deleted_at.is_(None))


def oldest_queued_since(db_session: Session) -> datetime | None:
    """When the job waiting longest in the queue entered it (created, retried or requeued: a
    queued job's progress_at is that moment), or None when none waits (read by /metrics)."""
    oldest: datetime | None = db_session.scalar(
        select(func.min(Job.progress_at))
        .where(Job.status == JobStatus.QUEUED.value))
    return oldest


def queued_job_ids(db_session: Session, *, limit: int = 5000) -> list[int]:
    """The jobs waiting in the queue, oldest first (to publish again after Redis lost them)."""
    return list(db_session.scalars(
        select(Job.id)
        .where(Job.status == JobStatus.QUEUED.value,
               Job.deleted_at.is_(None))
        .order_by(Job.id)
        .limit(limit)))


def get_job(db_session: Session, *, user_id: int, job_id: int, lock: bool = False) -> Job:
    """The user's own live job; anybody else's, or a deleted one, is simply not found.

    With `lock`, the row is locked for the transaction: a racing request that changes it first
    (deletes it, say) is seen, so only one of two racing deletes succeeds.
    """
    query = live_of(user_id).where(Job.id == job_id)
    if lock:
        query = query.with_for_update(of=Job)
    job = db_session.execute(query).scalar_one_or_none()
    if job is None:
        raise NotFound(f"headshot {job_id} not found")
    return job
