"""A user's own headshots: reading them, retrying a failed one, deleting one."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.clock import utcnow
from models.errors import Conflict, NotFound, OriginalExpired
from models.generations import IN_FLIGHT, GenerationStatus, HeadshotGeneration, live_of
from models.job_changes import Change, record_change
from models.jobs import cancel_generation, charge_round, requeue_failed_generation
from models.shares import revoke_shares
from models.uploads import Upload


def get_generation(db_session: Session, *, user_id: int, generation_id: int,
                   lock: bool = False) -> HeadshotGeneration:
    """The user's own live job; anybody else's, or a deleted one, is simply not found.

    With `lock`, the row is locked for the transaction: a racing request that changes it first
    (deletes it, say) is seen, so only one of two racing deletes succeeds.
    """
    query = live_of(user_id).where(HeadshotGeneration.id == generation_id)
    if lock:
        query = query.with_for_update(of=HeadshotGeneration)
    generation = db_session.execute(query).scalar_one_or_none()
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
    query = live_of(user_id)
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
    # Locked, so a delete racing this retry either goes first (then this is a 404) or waits:
    # a deleted headshot, whose original may be gone with it, is never charged and requeued.
    # And locked first: the charge locks the user's row after it (the lock order,
    # models/credits.py).
    generation = get_generation(db_session, user_id=user_id, generation_id=generation_id,
                                lock=True)
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


def set_favorite(db_session: Session, *, user_id: int, generation_id: int, favorite: bool
                 ) -> HeadshotGeneration:
    """Mark or unmark the user's headshot as a favorite (idempotent)."""
    generation = get_generation(db_session, user_id=user_id, generation_id=generation_id)
    generation.is_favorite = favorite
    db_session.flush()
    return generation


def cancel(db_session: Session, *, user_id: int, generation_id: int) -> HeadshotGeneration:
    """The user's cancel of a queued or processing headshot: failed (`cancelled`), refunded."""
    generation = get_generation(db_session, user_id=user_id, generation_id=generation_id,
                                lock=True)
    if cancel_generation(db_session, generation_id) is None:
        raise Conflict(f"this headshot has already ended ({generation.status})",
                       code="already_finished")
    return get_generation(db_session, user_id=user_id, generation_id=generation_id)


def delete_generation(db_session: Session, *, user_id: int, generation_id: int) -> list[str]:
    """Hide the user's headshot for good; returns the storage keys to delete once committed.

    A job still queued or processing is cancelled (and refunded) first. The row itself stays
    (soft delete) so the ledger keeps pointing at what was paid for; its share link is revoked,
    and the original and its before preview go with the last headshot made from them.
    """
    generation = get_generation(db_session, user_id=user_id, generation_id=generation_id,
                                lock=True)
    if generation.upload_id is not None:
        # Locked before the refund locks the user's row: the job, its upload, the user, as
        # every write path takes them (the lock order, models/credits.py; generate locks
        # the upload, then the user).
        _locked_upload(db_session, generation.upload_id)
    if generation.status in IN_FLIGHT:
        cancel_generation(db_session, generation_id)
        generation = get_generation(db_session, user_id=user_id, generation_id=generation_id)
    keys = generation.stored_keys
    generation.deleted_at = utcnow()
    generation.result_keys = []
    generation.thumbnail_key = None
    db_session.flush()
    revoke_shares(db_session, generation_id)
    if generation.upload_id is not None:
        keys += release_original_if_unused(db_session, generation.upload_id)
        keys += release_preview_if_unused(db_session, generation.upload_id)
    record_change(db_session, generation, Change.DELETED)
    return keys


def _locked_upload(db_session: Session, upload_id: object) -> Upload | None:
    # `populate_existing`: the row as it is now, not a copy loaded before the lock was granted
    # (the transaction we waited for may have changed it).
    return db_session.get(Upload, upload_id, with_for_update=True, populate_existing=True)


def _made_into_live_headshots(db_session: Session, upload: Upload) -> bool:
    return db_session.scalar(
        select(HeadshotGeneration.id).where(HeadshotGeneration.upload_id == upload.id,
                                            HeadshotGeneration.user_id == upload.user_id,
                                            HeadshotGeneration.deleted_at.is_(None)).limit(1)
    ) is not None


def release_original_if_unused(db_session: Session, upload_id: object) -> list[str]:
    """The upload's original, once the user deleted the last headshot made from it: the row is
    marked deleted (so generate and retry refuse it, 409 original_expired) and its key returned,
    to delete after the commit. An upload no headshot was ever made from waits for the
    retention clean-up: the user may still be about to use it."""
    upload = _locked_upload(db_session, upload_id)
    if upload is None or upload.deleted_at is not None \
            or _made_into_live_headshots(db_session, upload):
        return []
    upload.deleted_at = utcnow()
    return [upload.storage_key]


def release_preview_if_unused(db_session: Session, upload_id: object) -> list[str]:
    """The upload's before preview, once nothing needs it (its original is gone and no live
    headshot was made from it): its key, to delete after the commit; the row forgets it."""
    upload = _locked_upload(db_session, upload_id)
    if upload is None or upload.preview_key is None or upload.available:
        return []  # an original still there may make more headshots
    if _made_into_live_headshots(db_session, upload):
        return []
    key, upload.preview_key = upload.preview_key, None
    return [key]


def forget_user_media(db_session: Session, *, user_id: int) -> list[str]:
    """Delete my data: every headshot of the user is cancelled if running (refunded), hidden,
    unshared and stripped of its images, and every upload of theirs marked deleted; the ledger
    stays. Returns every storage key to delete once committed. Idempotent."""
    keys: list[str] = []
    # Every job's row, then every upload's, before the first refund locks the user's (the lock
    # order, models/credits.py): one upload locked after it would wait for a generate that
    # holds that upload and waits for the user's row.
    generations = list(db_session.scalars(
        live_of(user_id).with_for_update(of=HeadshotGeneration)))
    uploads = list(db_session.scalars(select(Upload).where(Upload.user_id == user_id)
                                      .with_for_update()))
    for generation in generations:
        keys += delete_generation(db_session, user_id=user_id, generation_id=generation.id)
    now = utcnow()
    for upload in uploads:
        if upload.deleted_at is None:
            keys.append(upload.storage_key)
            upload.deleted_at = now
        if upload.preview_key is not None:
            keys.append(upload.preview_key)
            upload.preview_key = None
    db_session.flush()
    return keys
