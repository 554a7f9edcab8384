"""One attempt at a headshot: take a GetImg slot, claim the job, ask GetImg, store the result,
finish the job.

The job always ends in a true state: completed, failed (and refunded), or back in the queue
for a later attempt. The database steps are `services/jobs.py`'s, each committed before the
next slow step starts. The slot (GETIMG_MAX_CONCURRENCY across every worker) is taken before
the claim, so waiting for one leaves the job queued and spends no attempt; from the claim on,
the attempt holds the job's lease, renewed by `workers/leases.py` while it works.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

from config import get_settings
from media import get_storage
from media.formats import BY_CONTENT_TYPE
from media.images import (
    ImageRejected,
    Thumbnail,
    crop_to_aspect,
    read_result_image,
    read_result_image_with_thumbnail,
)
from media.storage import StorageNotFound, new_key
from models.backoff import backoff_seconds
from models.errors import OriginalExpired
from models.getimg_calls import ABANDONED
from models.job.endings import may_attempt_again
from services import getimg_slots, jobs
from services.jobs import Claimed
from services.metrics import GETIMG_ABANDONED, GETIMG_ERRORS
from workers.getimg_calls import CallRecord
from workers.getimg_client import CallAbandoned, GenerationResponse, GetImgClient
from workers.getimg_errors import (
    AUTH_FAILED,
    QUOTA_EXCEEDED,
    RATE_LIMITED,
    USER_MESSAGES,
    GetImgError,
)
from workers.leases import KEEPER, HeldJob

log = logging.getLogger(__name__)

# What every generation asks GetImg for; the job's metadata records both as sent.
RESOLUTION = "1K"
OUTPUT_FORMAT = "jpeg"
MAX_RETRY_AFTER_SECONDS = 300.0
OUR_ACCOUNTS_PROBLEM = (QUOTA_EXCEEDED, AUTH_FAILED)  # not the user's: someone must act

for _code in USER_MESSAGES:  # at 0 from the start, so the alerts' increase() sees the first
    GETIMG_ERRORS.labels(_code)

_clients = threading.local()  # one client (its connection pools) per thread


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
class AttemptOutcome:
    # Set when the task should run again that much later: the job went back to the queue,
    # or it is still there because no GetImg slot came free in time (`waiting_for_slot`).
    retry_in_seconds: float | None = None
    waiting_for_slot: bool = False


class NoLongerOurs(Exception):
    """The job was cancelled, deleted or taken over while this attempt worked on it."""


def _still_ours(held: HeldJob) -> None:
    """Stop if the lease keeper found the job taken from this attempt (cancelled, taken over):
    a local check; the writes that follow are fenced by the attempt number anyway."""
    if held.lost.is_set():
        raise NoLongerOurs(held.job.id)


class GetImgSlot:
    """This attempt's place among the GetImg calls in flight; released once, early or last."""

    def __init__(self) -> None:
        self.holder = getimg_slots.new_holder()
        self.held = False

    def acquire(self, *, wait: bool = True) -> bool:
        """Take a slot, waiting up to GETIMG_SLOT_WAIT_SECONDS for one (or, without `wait`,
        only if one is free now)."""
        timeout = get_settings().getimg_slot_wait_seconds if wait else 0
        self.held = getimg_slots.acquire(self.holder, timeout=timeout)
        if self.held:
            KEEPER.hold_slot(self.holder)
        return self.held

    def release(self) -> None:
        if self.held:
            self.held = False
            KEEPER.drop_slot(self.holder)
            getimg_slots.release(self.holder)


def _slow_down_everyone(error: GetImgError | None, response: GenerationResponse | None) -> None:
    """GetImg's 429, or a success that spent the window's last request: every worker waits."""
    if error is not None and error.code == RATE_LIMITED:
        getimg_slots.pause(error.retry_after or 1.0)
    elif response is not None and response.pause_seconds:
        getimg_slots.pause(response.pause_seconds)


def retry_delay(attempt: int, retry_after: float | None) -> float:
    """Exponential backoff with jitter, never sooner than GetImg's Retry-After (within reason:
    a retry must stay well inside the broker's visibility timeout)."""
    settings = get_settings()
    delay = backoff_seconds(attempt, first=settings.getimg_retry_base_seconds,
                            ceiling=settings.getimg_retry_max_seconds)
    return max(delay, min(retry_after or 0.0, MAX_RETRY_AFTER_SECONDS))


def _requeue(job: Claimed, error: Exception, code: str, message: str, *,
             counts: bool = True) -> AttemptOutcome:
    delay = retry_delay(job.attempt_in_round, getattr(error, "retry_after", None))
    requeue = jobs.requeue if counts else jobs.give_back
    if not requeue(job, retry_in_seconds=delay, code=code, message=message):
        return AttemptOutcome()
    log.info("job %s attempt %s: %s, retrying in %.1fs", job.id,
             job.attempt_in_round, code, delay)
    return AttemptOutcome(retry_in_seconds=delay)


@dataclass(frozen=True)
class StoredResults:
    """What an attempt stored: the results' keys and sizes ([width, height] each), the
    thumbnail's key and size, and the before image's (the selfie cut to the job's shape)."""

    result_keys: list[str]
    result_sizes: list[tuple[int, int]]
    thumbnail_key: str
    thumbnail_size: tuple[int, int]
    before_key: str
    before_size: tuple[int, int]


def _store_results(job: Claimed, response: GenerationResponse, client: GetImgClient,
                   original: bytes, stored: list[str]) -> StoredResults:
    """Download and keep the results and a thumbnail; every key written goes into `stored`,
    so a failure half-way can delete what was already written. The sizes come from the check
    each image gets anyway, so readers never open a file to learn them."""
    storage = get_storage()
    result_keys: list[str] = []
    result_sizes: list[tuple[int, int]] = []
    thumbnail: Thumbnail | None = None
    for index, image in enumerate(response.images):
        body, _ = client.download(image.url)
        if thumbnail is None:  # the first result's: checked and shrunk from one decode
            checked = read_result_image_with_thumbnail(body)
            content_type, width, height = checked.content_type, checked.width, checked.height
            thumbnail = checked.thumbnail
        else:
            content_type, width, height = read_result_image(body)
        key = new_key("results", job.user_id, BY_CONTENT_TYPE[content_type].extension, index)
        stored.append(key)
        storage.put(key, body, content_type)
        result_keys.append(key)
        result_sizes.append((width, height))
    assert thumbnail is not None  # the client refuses a response without images
    thumbnail_key = new_key("thumbnails", job.user_id, "jpg")
    stored.append(thumbnail_key)
    storage.put(thumbnail_key, thumbnail.data, "image/jpeg")
    # One per job, not shared between the jobs of an upload and shape: it goes with the job's
    # other files, so no delete has to ask who else uses it.
    before = crop_to_aspect(original, job.aspect_ratio)
    before_key = new_key("previews", job.user_id, "jpg")
    stored.append(before_key)
    storage.put(before_key, before.data, "image/jpeg")
    return StoredResults(result_keys, result_sizes, thumbnail_key,
                         (thumbnail.width, thumbnail.height), before_key,
                         (before.width, before.height))


def run_attempt(generation_id: int) -> AttemptOutcome:
    """Run one attempt at the job; a job that is not claimable (done, taken) is left alone."""
    slot = GetImgSlot()
    # A free slot is taken at once, and the claim says whether there is anything to do. Only
    # an attempt that would have to wait for a slot checks the job first: a duplicate message
    # need not wait only to find nothing to do. (Checking every job first would cost a
    # transaction per job, to learn what the claim says anyway.)
    if not slot.acquire(wait=False):
        if not jobs.claimable(generation_id):
            log.info("job %s: nothing to do (already finished or taken)", generation_id)
            return AttemptOutcome()
        if not slot.acquire():
            log.info("job %s: no GetImg slot free; still queued, trying again shortly",
                     generation_id)
            return AttemptOutcome(retry_in_seconds=random.uniform(0.5, 2.0),
                                  waiting_for_slot=True)
    try:
        job = jobs.claim(generation_id)
        if job is None:
            log.info("job %s: nothing to do (already finished or taken)", generation_id)
            return AttemptOutcome()
        held = KEEPER.hold_job(job)
        try:
            return _attempt(held, slot)
        finally:
            KEEPER.drop_job(job)
    finally:
        slot.release()


def _attempt(held: HeldJob, slot: GetImgSlot) -> AttemptOutcome:
    job = held.job
    started = time.monotonic()
    metadata: dict[str, Any] = {"attempts": job.attempt_in_round, "resolution": RESOLUTION,
                                "outputFormat": OUTPUT_FORMAT}
    if job.original_key is None:
        jobs.fail(job, OriginalExpired.code, OriginalExpired.MESSAGE, metadata)
        return AttemptOutcome()
    stored: list[str] = []
    call: CallRecord | None = None
    try:
        original = get_storage().get(job.original_key)
        # No milestone between the claim (which stored PROGRESS_WAITING: GetImg is called
        # milliseconds later) and the end: each would be a transaction, a publish and a log
        # line, for a step the estimate already shows rising (models/job/progress.py).
        client = _getimg_client()
        _still_ours(held)
        call = CallRecord(job, resolution=RESOLUTION, output_format=OUTPUT_FORMAT)
        try:
            # Abandoned the moment the lease keeper finds the job taken away (a cancel makes
            # it look at once): the slot is freed below and the job's GetImg call ends here.
            response = client.generate(
                model=job.model, prompt=job.prompt, image=original,
                mime_type=job.original_content_type, aspect_ratio=job.aspect_ratio,
                resolution=RESOLUTION, output_format=OUTPUT_FORMAT, abandon=held.lost,
            )
        except CallAbandoned:
            GETIMG_ABANDONED.inc()
            call.ended_without_images(ABANDONED)
            raise NoLongerOurs(job.id) from None
        except GetImgError as error:
            call.ended_without_images(error.code)
            _slow_down_everyone(error, None)
            raise
        finally:
            slot.release()  # the download and the storing are not GetImg calls in flight
        call.answered(response)
        _slow_down_everyone(None, response)
        _still_ours(held)
        results = _store_results(job, response, client, original, stored)
        processing_time = time.monotonic() - started
        queue_time = max(0.0, (job.claimed_at - job.round_asked_at).total_seconds())
        outcome = {
            "getimgCost": response.total_cost,
            "getimgRequestId": response.request_id,
            "modelUsed": response.model,
            **timings(queue_time, processing_time),
        }
        # Inside the try: losing the database here is a crash of the attempt like any other
        # (its files deleted, the job requeued), as when a progress write followed GetImg.
        completed = jobs.complete(job, result_keys=results.result_keys,
                                  thumbnail_key=results.thumbnail_key,
                                  metadata=metadata | outcome,
                                  result_sizes=results.result_sizes,
                                  thumbnail_size=results.thumbnail_size, call=call.pending,
                                  before_key=results.before_key,
                                  before_size=results.before_size)
        call.pending = None  # written with the completion
    except NoLongerOurs:  # cancelled meanwhile: whatever it stored is nobody's
        _delete_quietly(stored)  # before the line: whoever reads it may look for the files
        log.info("job %s: no longer this attempt's; stopped", job.id)
        return AttemptOutcome()
    except StorageNotFound:
        jobs.fail(job, OriginalExpired.code, OriginalExpired.MESSAGE, metadata)
        return AttemptOutcome()
    except GetImgError as error:
        _delete_quietly(stored)
        GETIMG_ERRORS.labels(error.code).inc()
        if error.code == RATE_LIMITED:  # GetImg busy: a delay, not the job's fault (no attempt)
            return _requeue(job, error, error.code, error.message, counts=False)
        if error.transient and may_attempt_again(job.attempt_in_round):
            return _requeue(job, error, error.code, error.message)
        if error.code in OUR_ACCOUNTS_PROBLEM:
            log.error("OPERATOR ATTENTION: GetImg says %s (%s); jobs fail until fixed",
                      error.code, error.detail)
        jobs.fail(job, error.code, error.message, metadata)
        return AttemptOutcome()
    except ImageRejected as error:
        _delete_quietly(stored)
        jobs.fail(job, "malformed_response",
                  f"The image service returned an unusable image: {error}", metadata)
        return AttemptOutcome()
    except Exception as error:  # a bug or an outage of ours: retry, then fail and refund
        log.exception("job %s attempt %s crashed", job.id, job.attempt)
        _delete_quietly(stored)
        if may_attempt_again(job.attempt_in_round):
            return _requeue(job, error, "internal_error", "Something went wrong on our side.")
        jobs.fail(job, "internal_error", "Something went wrong on our side; you were refunded.",
                  metadata)
        return AttemptOutcome()
    finally:
        if call is not None:  # an answered call whose attempt did not complete: still billed
            call.write_pending()

    if not completed:  # cancelled, deleted or taken over meanwhile: our copy is nobody's
        _delete_quietly(stored)
        log.info("job %s: no longer this attempt's; deleted what it stored", job.id)
    return AttemptOutcome()


def timings(queue_seconds: float, processing_seconds: float) -> dict[str, float]:
    """The metadata's times, in seconds (§6): `queueTime` from the round's request (or the
    owner's retry) to the claim by the attempt that completed it, so the waits in the queue,
    any earlier attempts of the round and their backoff; `processingTime` that attempt, from
    its claim to its results stored; `totalTime` the two together."""
    return {"queueTime": round(queue_seconds, 3), "processingTime": round(processing_seconds, 3),
            "totalTime": round(queue_seconds + processing_seconds, 3)}


def _delete_quietly(keys: list[str]) -> None:
    storage = get_storage()
    for key in keys:
        try:
            storage.delete(key)
        except OSError:
            log.warning("could not delete %s", key, exc_info=True)
