"""Deleting jobs: a user's delete of one, and of all of them with their uploads (delete my data).

A delete hides the row for good (a soft delete: the ledger keeps pointing at what was paid
for), cancels and refunds a job still in flight (`endings.cancel_in_flight`), revokes its share
link, and releases the original and its preview once no live job was made from them. It
returns the storage keys to delete once the transaction has committed.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.clock import utcnow
from models.job.changes import Change, record_change
from models.job.endings import cancel_in_flight
from models.job.table import IN_FLIGHT, Job, get_job, live_of
from models.shares import revoke_shares
from models.uploads import Upload


def delete_job(db_session: Session, *, user_id: int, job_id: int) -> list[str]:
    """Hide the user's job for good; returns the storage keys to delete once committed.

    A job still queued or processing is cancelled (and refunded) first. The row itself stays
    (soft delete) so the ledger keeps pointing at what was paid for; its share link is revoked,
    and the original and its before preview go with the last job made from them.
    """
    job = get_job(db_session, user_id=user_id, job_id=job_id, lock=True)
    if job.upload_id is not None:
        # Locked before the refund locks the user's row: the job, its upload, the user, as
        # every write path takes them (the lock order, models/credits.py; generate locks
        # the upload, then the user).
        _locked_upload(db_session, job.upload_id)
    if job.status in IN_FLIGHT:
        cancel_in_flight(db_session, job_id)
        job = get_job(db_session, user_id=user_id, job_id=job_id)
    keys = job.stored_keys
    job.deleted_at = utcnow()
    job.result_keys = []
    job.thumbnail_key = job.before_key = None
    job.result_sizes = job.thumbnail_width = job.thumbnail_height = None
    job.before_width = job.before_height = None
    db_session.flush()
    revoke_shares(db_session, job_id)
    if job.upload_id is not None:
        keys += release_original_if_unused(db_session, job.upload_id)
        keys += release_preview_if_unused(db_session, job.upload_id)
    record_change(db_session, job, Change.DELETED)
    return keys


def _locked_upload(db_session: Session, upload_id: object) -> Upload | None:
    # `populate_existing`: the row as it is now, not a copy loaded before the lock was granted
    # (the transaction we waited for may have changed it).
    return db_session.get(Upload, upload_id, with_for_update=True, populate_existing=True)


def _made_into_live_jobs(db_session: Session, upload: Upload) -> bool:
    return db_session.scalar(
        select(Job.id).where(Job.upload_id == upload.id, Job.user_id == upload.user_id,
                             Job.deleted_at.is_(None)).limit(1)
    ) is not None


def release_original_if_unused(db_session: Session, upload_id: object) -> list[str]:
    """The upload's original, once the user deleted the last job made from it: the row is
    marked deleted (so generate and retry refuse it, 409 original_expired) and its key returned,
    to delete after the commit. An upload no job was ever made from waits for the
    retention clean-up: the user may still be about to use it."""
    upload = _locked_upload(db_session, upload_id)
    if upload is None or upload.deleted_at is not None \
            or _made_into_live_jobs(db_session, upload):
        return []
    upload.deleted_at = utcnow()
    return [upload.storage_key]


def release_preview_if_unused(db_session: Session, upload_id: object) -> list[str]:
    """The upload's before preview, once nothing needs it (its original is gone and no live
    job was made from it): its key, to delete after the commit; the row forgets it."""
    upload = _locked_upload(db_session, upload_id)
    if upload is None or upload.preview_key is None or upload.available:
        return []  # an original still there may make more jobs
    if _made_into_live_jobs(db_session, upload):
        return []
    key, upload.preview_key = upload.preview_key, None
    return [key]


def forget_user_media(db_session: Session, *, user_id: int) -> list[str]:
    """Delete my data: every job of the user is cancelled if running (refunded), hidden,
    unshared and stripped of its images, and every upload of theirs marked deleted; the ledger
    stays. Returns every storage key to delete once committed. Idempotent."""
    keys: list[str] = []
    # Every job's row, then every upload's, before the first refund locks the user's (the lock
    # order, models/credits.py): one upload locked after it would wait for a generate that
    # holds that upload and waits for the user's row.
    jobs = list(db_session.scalars(
        live_of(user_id).with_for_update(of=Job)))
    uploads = list(db_session.scalars(select(Upload).where(Upload.user_id == user_id)
                                      .with_for_update()))
    for job in jobs:
        keys += delete_job(db_session, user_id=user_id, job_id=job.id)
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
