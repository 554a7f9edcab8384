"""A user's own headshots: reading them, retrying a failed one, deleting one."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from models.clock import utcnow
from models.errors import Conflict, NotFound, OriginalExpired
from models.generations import IN_FLIGHT, GenerationStatus, HeadshotGeneration
from models.job_changes import Change, record_change
from models.jobs import charge_round, requeue_failed_generation


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
        raise OriginalExpired()
    retried = requeue_failed_generation(db_session, generation_id)
    if retried is None:  # retried by a racing request a moment ago
        raise Conflict("this headshot is already being retried", code="not_failed")
    charge_round(db_session, retried, f"retry of headshot {retried.id}")
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
    record_change(db_session, generation, Change.DELETED)
    return keys
