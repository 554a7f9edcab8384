"""One attempt at a headshot: claim the job, ask GetImg, store the result, finish the job.

Each step commits its state change before the next slow step starts, and every state change is
published to the status cache after its commit. The job always ends in a true state:
completed, failed (and refunded), or back in the queue for a later attempt.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

from config import get_settings
from models.db import unit_of_work
from models.generations import (
    PROGRESS_ORIGINAL_READY,
    PROGRESS_RECEIVED,
    PROGRESS_STORED,
    PROGRESS_WAITING,
    HeadshotGeneration,
    StatusSnapshot,
    claim_generation,
    complete_generation,
    fail_generation,
    record_progress,
    requeue_generation,
)
from models.styles import Style
from models.uploads import Upload
from workers.getimg_client import (
    AUTH_FAILED,
    QUOTA_EXCEEDED,
    GenerationResponse,
    GetImgClient,
    GetImgError,
)
from workers.images import ImageRejected, make_thumbnail, read_result_image
from workers.media import get_storage
from workers.status_cache import get_status_cache
from workers.storage import StorageNotFound, new_key

log = logging.getLogger(__name__)

RESOLUTION = "1K"
QUALITY = "high"
MAX_RETRY_AFTER_SECONDS = 300.0
ORIGINAL_EXPIRED = "The uploaded photo has expired; upload it again."
OUR_ACCOUNTS_PROBLEM = (QUOTA_EXCEEDED, AUTH_FAILED)  # not the user's: someone must act
EXTENSION_BY_TYPE = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}

_clients = threading.local()  # a requests.Session is not thread-safe: one client per thread


def _getimg_client() -> GetImgClient:
    client: GetImgClient | None = getattr(_clients, "client", None)
    if client is None:
        settings = get_settings()
        client = GetImgClient(
            settings.getimg_api_url,
            settings.getimg_request_key,
            connect_timeout=settings.getimg_connect_timeout_seconds,
            read_timeout=settings.getimg_timeout_seconds,
        )
        _clients.client = client
    return client


@dataclass(frozen=True)
class Claimed:
    """What an attempt needs to know, copied out of the session that claimed the job."""

    generation_id: int
    user_id: int
    attempt: int
    aspect_ratio: str
    original_key: str | None
    original_content_type: str
    model: str
    prompt: str


@dataclass(frozen=True)
class AttemptOutcome:
    retry_in_seconds: float | None = None  # set when the job went back to the queue


def retry_delay(attempt: int, retry_after: float | None) -> float:
    """Exponential backoff with jitter, never sooner than GetImg's Retry-After (within reason:
    a retry must stay well inside the broker's visibility timeout)."""
    settings = get_settings()
    ceiling = min(settings.getimg_retry_max_seconds,
                  settings.getimg_retry_base_seconds * 2 ** (attempt - 1))
    delay = random.uniform(ceiling / 2, ceiling)
    return max(delay, min(retry_after or 0.0, MAX_RETRY_AFTER_SECONDS))


def _publish(generation: HeadshotGeneration | None) -> None:
    if generation is not None:
        get_status_cache().publish(StatusSnapshot.of(generation))


def _claim(generation_id: int) -> Claimed | None:
    with unit_of_work() as db_session:
        generation = claim_generation(db_session, generation_id)
        if generation is None:
            return None
        upload = db_session.get(Upload, generation.upload_id) if generation.upload_id else None
        style = db_session.get(Style, generation.style)
        assert style is not None  # a foreign key guarantees it
        claimed = Claimed(
            generation_id=generation.id,
            user_id=generation.user_id,
            attempt=generation.attempts,
            aspect_ratio=generation.aspect_ratio,
            original_key=upload.storage_key if upload and upload.available else None,
            original_content_type=upload.content_type if upload else "image/jpeg",
            model=style.model,
            prompt=style.prompt,
        )
        db_session.commit()
    _publish(generation)
    return claimed


def _progress(job: Claimed, progress: int) -> None:
    with unit_of_work() as db_session:
        generation = record_progress(
            db_session, job.generation_id, attempt=job.attempt, progress=progress
        )
        db_session.commit()
    _publish(generation)


def _fail(job: Claimed, code: str, message: str, metadata: dict[str, Any]) -> None:
    with unit_of_work() as db_session:
        generation = fail_generation(
            db_session, job.generation_id, code=code, message=message, metadata=metadata,
            attempt=job.attempt,
        )
        db_session.commit()
    log.info("job %s failed: %s", job.generation_id, code)
    _publish(generation)


def _requeue(job: Claimed, error: GetImgError | Exception, code: str, message: str
             ) -> AttemptOutcome:
    delay = retry_delay(job.attempt, getattr(error, "retry_after", None))
    with unit_of_work() as db_session:
        generation = requeue_generation(
            db_session, job.generation_id, attempt=job.attempt, retry_in_seconds=delay,
            code=code, message=message,
        )
        db_session.commit()
    if generation is None:
        return AttemptOutcome()
    log.info("job %s attempt %s: %s, retrying in %.1fs", job.generation_id, job.attempt, code,
             delay)
    _publish(generation)
    return AttemptOutcome(retry_in_seconds=delay)


def _store_results(job: Claimed, response: GenerationResponse, client: GetImgClient,
                   stored: list[str]) -> tuple[list[str], str]:
    """Download and keep the results and a thumbnail; every key written goes into `stored`,
    so a failure half-way can delete what was already written."""
    storage = get_storage()
    result_keys: list[str] = []
    first: bytes | None = None
    for index, image in enumerate(response.images):
        body, _ = client.download(image.url)
        content_type, _, _ = read_result_image(body)
        key = new_key("results", job.user_id, EXTENSION_BY_TYPE[content_type], index)
        stored.append(key)
        storage.put(key, body, content_type)
        result_keys.append(key)
        first = first or body
    assert first is not None  # the client refuses a response without images
    thumbnail_key = new_key("thumbnails", job.user_id, "jpg")
    stored.append(thumbnail_key)
    storage.put(thumbnail_key, make_thumbnail(first), "image/jpeg")
    return result_keys, thumbnail_key


def run_attempt(generation_id: int) -> AttemptOutcome:
    """Run one attempt at the job; a job that is not claimable (done, taken) is left alone."""
    job = _claim(generation_id)
    if job is None:
        log.info("job %s: nothing to do (already finished or taken)", generation_id)
        return AttemptOutcome()
    started = time.monotonic()
    metadata: dict[str, Any] = {"attempts": job.attempt, "quality": QUALITY}
    if job.original_key is None:
        _fail(job, "original_expired", ORIGINAL_EXPIRED, metadata)
        return AttemptOutcome()
    stored: list[str] = []
    try:
        original = get_storage().get(job.original_key)
        _progress(job, PROGRESS_ORIGINAL_READY)
        _progress(job, PROGRESS_WAITING)
        client = _getimg_client()
        response = client.generate(
            model=job.model, prompt=job.prompt, image=original,
            mime_type=job.original_content_type, aspect_ratio=job.aspect_ratio,
            resolution=RESOLUTION,
        )
        _progress(job, PROGRESS_RECEIVED)
        result_keys, thumbnail_key = _store_results(job, response, client, stored)
        _progress(job, PROGRESS_STORED)
    except StorageNotFound:
        _fail(job, "original_expired", ORIGINAL_EXPIRED, metadata)
        return AttemptOutcome()
    except GetImgError as error:
        _delete_quietly(stored)
        if error.transient and job.attempt < get_settings().getimg_max_attempts:
            return _requeue(job, error, error.code, error.message)
        if error.code in OUR_ACCOUNTS_PROBLEM:
            log.error("OPERATOR ATTENTION: GetImg says %s (%s); jobs fail until fixed",
                      error.code, error.detail)
        _fail(job, error.code, error.message, metadata)
        return AttemptOutcome()
    except ImageRejected as error:
        _delete_quietly(stored)
        _fail(job, "malformed_response", f"The image service returned an unusable image: "
              f"{error}", metadata)
        return AttemptOutcome()
    except Exception as error:  # a bug or an outage of ours: retry, then fail and refund
        log.exception("job %s attempt %s crashed", job.generation_id, job.attempt)
        _delete_quietly(stored)
        if job.attempt < get_settings().getimg_max_attempts:
            return _requeue(job, error, "internal_error", "Something went wrong on our side.")
        _fail(job, "internal_error", "Something went wrong on our side; you were refunded.",
              metadata)
        return AttemptOutcome()

    processing_time = round(time.monotonic() - started, 3)
    metadata |= {
        "getimgCost": response.total_cost,
        "getimgRequestId": response.request_id,
        "modelUsed": response.model,
        "processingTime": processing_time,
    }
    try:
        with unit_of_work() as db_session:
            generation = complete_generation(
                db_session, job.generation_id, attempt=job.attempt, result_keys=result_keys,
                thumbnail_key=thumbnail_key, metadata=metadata,
            )
            db_session.commit()
    except BaseException:  # not recorded as completed: the files belong to no job
        _delete_quietly(stored)
        raise
    if generation is None:  # deleted or taken over meanwhile: our copy is nobody's
        _delete_quietly(stored)
        return AttemptOutcome()
    _publish(generation)
    get_status_cache().record_processing_time(processing_time)
    return AttemptOutcome()


def _delete_quietly(keys: list[str]) -> None:
    storage = get_storage()
    for key in keys:
        try:
            storage.delete(key)
        except OSError:
            log.warning("could not delete %s", key, exc_info=True)
