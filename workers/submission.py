"""Accepting work from the API: store an upload, or charge for a job and hand it to a worker."""

from __future__ import annotations

import logging

from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError

from config import get_settings
from models.db import unit_of_work
from models.errors import DomainError, InvalidRequest
from models.generations import (
    HeadshotGeneration,
    StatusSnapshot,
    create_generation,
    fail_generation,
)
from models.styles import get_active_style
from models.uploads import Upload, find_usable_upload, record_upload
from models.users import ensure_user
from workers.generate_task import generate_headshot
from workers.images import sanitize_upload
from workers.media import get_signer, get_storage
from workers.status_cache import get_status_cache
from workers.storage import new_key

log = logging.getLogger(__name__)


class ServiceUnavailable(DomainError):
    code = "service_unavailable"


def accept_upload(*, user_id: int, email: str | None, raw: bytes) -> Upload:
    """Sanitise and store an uploaded selfie and record it; nothing is kept if any step fails."""
    image = sanitize_upload(raw, max_bytes=get_settings().upload_max_bytes)
    key = new_key("originals", user_id, image.extension)
    storage = get_storage()
    storage.put(key, image.data, image.content_type)
    try:
        with unit_of_work() as db_session:
            ensure_user(db_session, user_id=user_id, email=email)
            upload = record_upload(
                db_session, user_id=user_id, storage_key=key, content_type=image.content_type,
                size_bytes=len(image.data), width=image.width, height=image.height,
            )
            db_session.commit()
    except BaseException:
        storage.delete(key)
        raise
    return upload


def submit_generation(
    *, user_id: int, email: str | None, image_url: str, style_id: str, aspect_ratio: str
) -> HeadshotGeneration:
    """Charge for a job and create it in one transaction, then publish it to the workers.

    If the publish fails, the job is failed and refunded at once and the caller gets a 503:
    the user is told now rather than left with a queued job nobody will run, and a retry
    later starts cleanly.
    """
    storage_key = get_signer().storage_key_from_url(image_url)
    if storage_key is None:
        raise InvalidRequest(
            "imageUrl: must be an image URL issued by this service's upload endpoint",
            code="invalid_image_url",
        )
    with unit_of_work() as db_session:
        ensure_user(db_session, user_id=user_id, email=email)
        upload = find_usable_upload(db_session, user_id=user_id, storage_key=storage_key)
        style = get_active_style(db_session, style_id)
        generation = create_generation(
            db_session, user_id=user_id, upload=upload, style=style, aspect_ratio=aspect_ratio
        )
        db_session.commit()
    _dispatch(generation)
    return generation


def _dispatch(generation: HeadshotGeneration) -> None:
    # The queued snapshot goes out before the task does, so it can never overwrite the
    # worker's newer one.
    cache = get_status_cache()
    cache.publish(StatusSnapshot.of(generation))
    try:
        generate_headshot.apply_async(args=[generation.id])
    except (BrokerError, RedisError, OSError) as error:
        log.error("could not publish job %s: %s", generation.id, error)
        with unit_of_work() as db_session:
            failed = fail_generation(
                db_session, generation.id, code="service_unavailable",
                message="The job queue is unavailable; you were not charged.",
            )
            db_session.commit()
        if failed is not None:
            cache.publish(StatusSnapshot.of(failed))
        raise ServiceUnavailable(
            "the job queue is unavailable; nothing was charged, try again shortly"
        ) from error
