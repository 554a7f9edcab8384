"""Batches: one upload, several styles, charged together; their status follows their jobs'.

A batch is written with its jobs, in the statement that charges for them
(`models/job/creation.create_jobs`). It ends when its last job ends. Jobs of one batch end in
transactions of their own, on several workers at once; each ending job locks the batch row
(`end_if_finished`), so exactly one of them sees the batch finished and ends it.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, String, select, update
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base
from models.clock import utcnow
from models.errors import NotFound
from models.job.table import FINISHED, Job, JobStatus, live_of


class BatchStatus(enum.StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"  # every style completed
    FAILED = "failed"  # every style failed
    PARTIAL = "partial"  # ended, some completed and some failed


class HeadshotBatch(Base):
    __tablename__ = "headshot_batches"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True,
                                          default=uuid.uuid4)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"), index=True)
    size: Mapped[int] = mapped_column(Integer)  # how many styles (jobs)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    final_status: Mapped[str | None] = mapped_column(String(20))


def batch_status(statuses: Sequence[str]) -> BatchStatus:
    """A batch's status from its jobs' statuses."""
    if all(status == JobStatus.QUEUED for status in statuses):
        return BatchStatus.QUEUED
    if any(status not in FINISHED for status in statuses):
        return BatchStatus.PROCESSING
    if all(status == JobStatus.COMPLETED for status in statuses):
        return BatchStatus.COMPLETED
    if all(status == JobStatus.FAILED for status in statuses):
        return BatchStatus.FAILED
    return BatchStatus.PARTIAL


def get_batch_jobs(db_session: Session, *, user_id: int, batch_id: uuid.UUID,
                   include_deleted: bool = False) -> list[Job]:
    """The user's batch's live jobs (with `include_deleted`, all of them: a webhook about a
    batch its owner deleted meanwhile) in the order the styles were asked for; anybody else's
    batch, or an unknown one, is not found."""
    jobs = list(db_session.scalars(
        live_of(user_id, include_deleted=include_deleted)
        .where(Job.batch_id == batch_id)
        .order_by(Job.id)
    ))
    if not jobs:
        raise NotFound(f"batch {batch_id} not found")
    return jobs


def end_if_finished(db_session: Session, batch_id: uuid.UUID) -> BatchStatus | None:
    """End the batch if all its jobs have ended (its final status), else None. Called in the
    transaction of each job that ends; the row lock makes one of racing callers end it."""
    batch = db_session.execute(
        select(HeadshotBatch).where(HeadshotBatch.id == batch_id).with_for_update()
    ).scalar_one()
    if batch.ended_at is not None:
        return None
    statuses = list(db_session.scalars(
        select(Job.status).where(Job.batch_id == batch_id)
    ))
    status = batch_status(statuses)
    if status in (BatchStatus.QUEUED, BatchStatus.PROCESSING):
        return None
    batch.ended_at = utcnow()
    batch.final_status = status.value
    return status


def reopen(db_session: Session, batch_id: uuid.UUID) -> None:
    """A job of the batch was retried: the batch runs again and will end again."""
    db_session.execute(
        update(HeadshotBatch).where(HeadshotBatch.id == batch_id)
        .values(ended_at=None, final_status=None)
    )


