"""Accepting work from the API: store an upload, or charge for a job and hand it to a worker."""

from __future__ import annotations

import logging
from collections.abc import Callable

from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError
from sqlalchemy.orm import Session

from config import get_settings
from models.db import unit_of_work
from models.errors import DomainError, InvalidRequest
from models.generations import (
    HeadshotGeneration,
    StatusSnapshot,
    create_generation,
    fail_generation,
    get_generation,
    retry_generation,
)
from models.idempotency import IdempotentRequest, forget_result, record_result, reserve_key
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
    *, user_id: int, email: str | None, image_url: str, style_id: str, aspect_ratio: str,
    idempotency: IdempotentRequest | None = None,
) -> HeadshotGeneration:
    """Charge for a job and create it in one transaction, then publish it to the workers."""
    storage_key = get_signer().storage_key_from_url(image_url)
    if storage_key is None:
        raise InvalidRequest(
            "imageUrl: must be an image URL issued by this service's upload endpoint",
            code="invalid_image_url",
        )

    def create(db_session: Session) -> HeadshotGeneration:
        upload = find_usable_upload(db_session, user_id=user_id, storage_key=storage_key)
        style = get_active_style(db_session, style_id)
        return create_generation(
            db_session, user_id=user_id, upload=upload, style=style, aspect_ratio=aspect_ratio
        )

    return _charge_and_dispatch(user_id, email, idempotency, create)


def resubmit_generation(*, user_id: int, email: str | None, generation_id: int,
                        idempotency: IdempotentRequest | None = None) -> HeadshotGeneration:
    """Retry a failed job: charged again, back in the queue."""

    def retry(db_session: Session) -> HeadshotGeneration:
        return retry_generation(db_session, user_id=user_id, generation_id=generation_id)

    return _charge_and_dispatch(user_id, email, idempotency, retry)


def _charge_and_dispatch(
    user_id: int, email: str | None, idempotency: IdempotentRequest | None,
    charge: Callable[[Session], HeadshotGeneration],
) -> HeadshotGeneration:
    with unit_of_work() as db_session:
        ensure_user(db_session, user_id=user_id, email=email)
        earlier = (
            reserve_key(db_session, user_id=user_id, request=idempotency) if idempotency else None
        )
        if earlier is not None and earlier.resource_id is not None:
            replayed = get_generation(db_session, user_id=user_id,
                                      generation_id=int(earlier.resource_id))
            db_session.commit()  # ends the transaction without expiring what it loaded
            return replayed
        generation = charge(db_session)
        if idempotency:
            record_result(db_session, user_id=user_id, request=idempotency,
                          resource_id=str(generation.id))
        db_session.commit()
    _dispatch(generation)
    return generation


def _dispatch(generation: HeadshotGeneration) -> None:
    """Hand a committed job to the workers.

    If the broker refuses it, the job is failed and refunded at once and the caller gets a 503:
    the user is told now, not left with a job nobody will run, and may simply try again (its
    Idempotency-Key is freed). The queued snapshot goes out before the task does, so it can
    never land after the worker's newer one.
    """
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
            forget_result(db_session, user_id=generation.user_id, resource_id=str(generation.id))
            db_session.commit()
        if failed is not None:
            cache.publish(StatusSnapshot.of(failed))
        raise ServiceUnavailable(
            "the job queue is unavailable; nothing was charged, try again shortly"
        ) from error
