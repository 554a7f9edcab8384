"""Charging for a job and handing it to the workers: generate, and a user's retry."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.orm import Session

from media import get_signer
from models.errors import InvalidRequest, ServiceUnavailable
from models.generations import HeadshotGeneration
from models.headshots import get_generation, retry_generation
from models.idempotency import IdempotentRequest, forget_result, record_result, reserve_key
from models.jobs import create_generation, fail_generation
from models.styles import get_active_style
from models.uploads import find_usable_upload
from models.users import ensure_user
from services.queue import BROKER_FAULTS, enqueue_generation
from services.unit_of_work import unit_of_work

log = logging.getLogger(__name__)


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
        db_session.commit()  # the after-commit path publishes the queued status
    _dispatch(generation)
    return generation


def _dispatch(generation: HeadshotGeneration) -> None:
    """Hand a committed job to the workers.

    If the broker refuses it, the job is failed and refunded at once and the caller gets a 503:
    the user is told now, not left with a job nobody will run, and may simply try again (its
    Idempotency-Key is freed). The queued status was published on commit, before the task
    goes out, so it can never land after the worker's newer one.
    """
    try:
        enqueue_generation(generation.id)
    except BROKER_FAULTS as error:
        log.error("could not publish job %s: %s", generation.id, error)
        with unit_of_work() as db_session:
            fail_generation(
                db_session, generation.id, code="service_unavailable",
                message="The job queue is unavailable; you were not charged.",
            )
            forget_result(db_session, user_id=generation.user_id, resource_id=str(generation.id))
            db_session.commit()
        raise ServiceUnavailable(
            "the job queue is unavailable; nothing was charged, try again shortly"
        ) from error
