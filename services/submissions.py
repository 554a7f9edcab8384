"""Charging for jobs and handing them to the workers: generate, batch, and a user's retry."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from media import get_signer
from models.batches import get_batch_jobs
from models.errors import InvalidRequest, ServiceUnavailable
from models.idempotency import IdempotentRequest, forget_result, record_result, reserve_key
from models.job import get_job, retry_job
from models.job.creation import create_jobs
from models.job.endings import fail_job
from models.job.table import Job
from models.styles import OfferedStyle, get_active_style
from models.uploads import find_usable_upload
from models.users import register_user
from services import flags
from services.queue import enqueue_jobs
from services.unit_of_work import unit_of_work

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Accepted:
    """What one request charged for: a job, or a batch's jobs in the order of its styles."""

    jobs: list[Job]
    batch_id: uuid.UUID | None = None

    @property
    def resource_id(self) -> str:
        """What its Idempotency-Key remembers."""
        return str(self.batch_id) if self.batch_id else str(self.jobs[0].id)


def submit_job(
    *, user_id: int, email: str | None, image_url: str, style_id: str, aspect_ratio: str,
    idempotency: IdempotentRequest | None = None,
) -> Job:
    """Charge for a job and create it in one transaction, then publish it to the workers.
    The charge keeps the user's email current (the token's). A style whose flag is off for
    the user is refused before anything else (403 feature_disabled, §14)."""
    flags.require_style(style_id, user_id)
    storage_key = _own_upload_key(image_url)

    def create(db_session: Session) -> Accepted:
        styles = _offered_styles(db_session, [style_id], user_id=user_id, storage_key=storage_key)
        return Accepted(create_jobs(db_session, user_id=user_id, storage_key=storage_key,
                                           styles=styles, aspect_ratio=aspect_ratio,
                                           email=email))

    return _charge_and_dispatch(user_id, email, idempotency, create, _replay_job).jobs[0]


def submit_batch(
    *, user_id: int, email: str | None, image_url: str, style_ids: list[str],
    aspect_ratio: str, idempotency: IdempotentRequest | None = None,
) -> Accepted:
    """One job per style from one upload, all charged in one transaction or none (402).
    Refused before anything else when batches, or one of the styles, are off for the user
    (403 feature_disabled, §14)."""
    flags.require("batch", user_id)
    for style_id in style_ids:
        flags.require_style(style_id, user_id)
    storage_key = _own_upload_key(image_url)

    def create(db_session: Session) -> Accepted:
        styles = _offered_styles(db_session, style_ids, user_id=user_id, storage_key=storage_key)
        batch_id = uuid.uuid4()
        return Accepted(create_jobs(db_session, user_id=user_id, storage_key=storage_key,
                                           styles=styles, aspect_ratio=aspect_ratio,
                                           new_batch_id=batch_id, email=email), batch_id)

    def replay(db_session: Session, user_id: int, resource_id: str) -> Accepted:
        batch_id = uuid.UUID(resource_id)
        return Accepted(get_batch_jobs(db_session, user_id=user_id, batch_id=batch_id),
                        batch_id)

    return _charge_and_dispatch(user_id, email, idempotency, create, replay)


def resubmit_job(*, user_id: int, email: str | None, job_id: int,
                        idempotency: IdempotentRequest | None = None) -> Job:
    """Retry a failed job: charged again, back in the queue."""

    def retry(db_session: Session) -> Accepted:
        retried = retry_job(db_session, user_id=user_id, job_id=job_id)
        # The email kept current once the charge holds the user's row: locking that row
        # before the job's would break the lock order (models/credits.py).
        register_user(db_session, user_id=user_id, email=email)
        return Accepted([retried])

    return _charge_and_dispatch(user_id, email, idempotency, retry, _replay_job).jobs[0]


def _own_upload_key(image_url: str) -> str:
    storage_key = get_signer().storage_key_from_url(image_url)
    if storage_key is None:
        raise InvalidRequest(
            "imageUrl: must be an image URL issued by this service's upload endpoint",
            code="invalid_image_url",
        )
    return storage_key


def _offered_styles(db_session: Session, style_ids: list[str], *, user_id: int,
                    storage_key: str) -> list[OfferedStyle]:
    """The asked styles; an unknown one is refused after the upload's own refusal, if any
    (the order of the checks before the upload's moved into the charging statement)."""
    try:
        return [get_active_style(db_session, style_id) for style_id in style_ids]
    except InvalidRequest:
        find_usable_upload(db_session, user_id=user_id, storage_key=storage_key)
        raise


def _replay_job(db_session: Session, user_id: int, resource_id: str) -> Accepted:
    return Accepted([get_job(db_session, user_id=user_id, job_id=int(resource_id))])


def _charge_and_dispatch(
    user_id: int, email: str | None, idempotency: IdempotentRequest | None,
    charge: Callable[[Session], Accepted], replay: Callable[[Session, int, str], Accepted],
) -> Accepted:
    with unit_of_work() as db_session:
        earlier = None
        if idempotency:
            # The key's row refers to the user's; without a key, the charge needs no more
            # than the user's upload (or job) found, which proves the row is there. Without
            # the email, which the charge keeps current: the user's row is not locked ahead
            # of a retried job's (the lock order, models/credits.py).
            register_user(db_session, user_id=user_id)
            earlier = reserve_key(db_session, user_id=user_id, request=idempotency)
        if earlier is not None and earlier.resource_id is not None:
            replayed = replay(db_session, user_id, earlier.resource_id)
            db_session.commit()  # ends the transaction without expiring what it loaded
            return replayed
        accepted = charge(db_session)
        if idempotency:
            record_result(db_session, user_id=user_id, request=idempotency,
                          resource_id=accepted.resource_id)
        db_session.commit()  # the after-commit path publishes the queued statuses
    _dispatch(user_id, accepted)
    return accepted


def _dispatch(user_id: int, accepted: Accepted) -> None:
    """Hand committed jobs to the workers.

    A job the broker refuses is failed and refunded at once: the user is told now, not left
    with a job nobody will run. If none reached the queue the caller gets a 503 and may simply
    try again (the Idempotency-Key is freed); a batch some of whose jobs did reach it stands,
    its other styles failed and refunded (retry them like any failed job). The queued status
    was published on commit, before the task goes out, so it can never land after the
    worker's newer one.
    """
    faults = enqueue_jobs([job.id for job in accepted.jobs])
    if not faults:
        return
    for job_id, error in faults.items():
        log.error("could not publish job %s: %s", job_id, error)
    fault = next(iter(faults.values()))
    refused = [job for job in accepted.jobs if job.id in faults]
    nothing_queued = len(refused) == len(accepted.jobs)
    with unit_of_work() as db_session:
        for job in refused:
            fail_job(db_session, job.id, code="service_unavailable",
                            message="The job queue is unavailable; your credits were refunded.")
        if nothing_queued:
            forget_result(db_session, user_id=user_id, resource_id=accepted.resource_id)
        db_session.commit()
    if nothing_queued:
        raise ServiceUnavailable(
            "the job queue is unavailable; the credits were refunded, try again shortly"
        ) from fault
