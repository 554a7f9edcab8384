"""Completion webhooks (API guide §11): one signed POST per outbox event, at least once.

The event was written with the change that ended its job or batch (`models/job/changes.py`);
here it is claimed, its payload built from the current state (so its image URLs are freshly
signed), signed the Standard Webhooks way and sent. Any 2xx is a delivery; anything else is
tried again with exponential backoff until a day after the event, with the same `webhook-id`
on every attempt so the receiver can drop duplicates.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import requests
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from standardwebhooks.webhooks import Webhook

from config import get_settings
from media import get_signer
from models.backoff import backoff_seconds
from models.clock import utcnow
from models.errors import NotFound
from models.job.table import Job
from models.outbox import (
    OutboxEvent,
    claim_event,
    due_event_ids,
    mark_delivered,
    mark_failed_attempt,
)
from services.batches import batch
from services.metrics import WEBHOOK_DELIVERIES
from services.representations import batch_json, headshot_json
from services.unit_of_work import read_only, unit_of_work

log = logging.getLogger(__name__)

TIMEOUT = (5, 10)  # connect, read: a slow receiver must not hold a worker thread for long
MAX_RETRY_SECONDS = 3600.0


@dataclass(frozen=True)
class Attempt:
    delivered: bool
    retry_in_seconds: float | None = None  # when to try again; None: delivered or given up


def retry_delay(attempts: int) -> float:
    """Exponential backoff with jitter: about 5 s, 10 s, 20 s ... up to an hour (the first
    step is WEBHOOK_RETRY_BASE_SECONDS)."""
    return backoff_seconds(attempts, first=get_settings().webhook_retry_base_seconds,
                           ceiling=MAX_RETRY_SECONDS)


def deliver(event_id: int) -> Attempt:
    """One delivery attempt of the event; a no-op for one not due, or held by another attempt."""
    settings = get_settings()
    if settings.notify_webhook_url is None:
        return Attempt(delivered=False)
    with unit_of_work() as db_session:
        event = claim_event(db_session, event_id)
        db_session.commit()
    if event is None:
        return Attempt(delivered=False)
    permanent = False
    try:
        body = json.dumps(payload(event), separators=(",", ":"))
        error = _post(event.message_id, body)
    except (LookupError, NotFound) as gone:  # its headshot or batch no longer exists at all
        error, permanent = f"nothing to send: {gone}", True
    except Exception as failure:  # a bug: counted as a failed attempt, tried again
        log.exception("webhook %s: could not build or send", event.message_id)
        error = f"{type(failure).__name__}: {failure}"
    with unit_of_work() as db_session:
        if error is None:
            mark_delivered(db_session, event.id)
            db_session.commit()
            WEBHOOK_DELIVERIES.labels("delivered").inc()
            return Attempt(delivered=True)
        delay = retry_delay(event.attempts)
        next_at = mark_failed_attempt(db_session, event, retry_in=timedelta(seconds=delay),
                                      error=error, give_up=permanent)
        db_session.commit()
    WEBHOOK_DELIVERIES.labels("gave_up" if next_at is None else "retrying").inc()
    if next_at is None:
        log.error("webhook %s (%s): giving up after %s attempts: %s", event.message_id,
                  event.event_type, event.attempts, error)
        return Attempt(delivered=False)
    log.info("webhook %s: attempt %s failed (%s), again in %.0fs", event.message_id,
             event.attempts, error, delay)
    return Attempt(delivered=False, retry_in_seconds=delay)


def payload(event: OutboxEvent) -> dict[str, Any]:
    """`{type, timestamp, data: {userId, headshot | batch}}`, objects as the API returns them."""
    data: dict[str, Any] = {"userId": event.user_id}
    signer = get_signer()
    if event.batch_id is not None:
        view = batch(user_id=event.user_id, batch_id=event.batch_id, include_deleted=True)
        data["batch"] = batch_json(view, signer)
    else:
        with read_only() as db_session:
            job = db_session.scalar(
                select(Job).options(selectinload(Job.upload))
                .where(Job.id == event.generation_id))
        if job is None:
            raise LookupError(f"headshot {event.generation_id} is gone")
        data["headshot"] = headshot_json(job, signer)
    return {"type": event.event_type, "timestamp": event.created_at.isoformat(), "data": data}


def _post(message_id: str, body: str) -> str | None:
    """Send one signed request; None on a 2xx, else what went wrong."""
    settings = get_settings()
    assert settings.notify_webhook_url and settings.notify_webhook_secret
    sent_at = utcnow()
    signature = Webhook(settings.notify_webhook_secret).sign(message_id, sent_at, body)
    headers = {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signature,
    }
    try:
        response = requests.post(settings.notify_webhook_url, data=body.encode(),
                                 headers=headers, timeout=TIMEOUT, allow_redirects=False)
    except requests.RequestException as error:
        return f"{type(error).__name__}: {error}"[:300]
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}"


def due_events() -> list[int]:
    """Events to send again; none while webhooks are off (they wait, undelivered)."""
    if get_settings().notify_webhook_url is None:
        return []
    with read_only() as db_session:
        return due_event_ids(db_session)
