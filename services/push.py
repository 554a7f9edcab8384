"""Push notifications (§13): one notification per outbox push row, at least once.

The rows were written with the change that ended the job or batch, one per device of the user
(`models/devices.py: add_push_events`); here one is claimed, its notification built and handed
to the device's provider (`workers/push/`). The retries are the webhooks': the same lease, the
same backoff, the same day-long window (`services/webhooks.py`). A device its provider reports
gone is forgotten, and its delivery ends there: nobody is left to receive a retry.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from models import outbox
from models.devices import Device, Platform, forget_gone_device, get_device, push_platforms
from models.outbox import Channel, EventType, OutboxEvent
from services import flags
from services.metrics import PUSH_DELIVERIES
from services.unit_of_work import read_only, unit_of_work
from services.webhooks import Attempt, retry_delay
from workers.push import Outcome, Sent, sender_for

log = logging.getLogger(__name__)

# What the phone shows: a title and a line, per ending.
TEXTS = {
    EventType.HEADSHOT_COMPLETED: ("Your headshot is ready", "Tap to see it."),
    EventType.HEADSHOT_FAILED: ("Your headshot could not be made",
                                "Your credit was refunded. Tap to try again."),
    EventType.HEADSHOT_CANCELLED: ("Headshot cancelled", "Your credit was refunded."),
    EventType.BATCH_COMPLETED: ("Your headshots are ready",
                                "Every style is done. Tap to see them."),
    EventType.BATCH_PARTIAL: ("Some of your headshots are ready",
                              "The ones that failed were refunded. Tap to see the rest."),
    EventType.BATCH_FAILED: ("Your headshots could not be made", "Your credits were refunded."),
}


def notification(event: OutboxEvent) -> dict[str, Any]:
    """`{id, type, headshotId | batchId, title, body, url}`: `id` is the same on every retry, so
    the app shows a notification once however often it arrives; `url` is where it opens."""
    title, body = TEXTS[EventType(event.event_type)]
    payload: dict[str, Any] = {"id": event.message_id, "type": event.event_type}
    if event.batch_id is not None:
        payload["batchId"] = str(event.batch_id)
        payload["url"] = f"/app/#/batches/{event.batch_id}"
    else:
        payload["headshotId"] = event.generation_id
        payload["url"] = f"/app/#/headshots/{event.generation_id}"
    return {**payload, "title": title, "body": body}


def deliver(event_id: int) -> Attempt:
    """One delivery attempt of a push row; a no-op for one not due, or held by another."""
    if not push_platforms():
        return Attempt(delivered=False)
    with unit_of_work() as db_session:
        event = outbox.claim_event(db_session, event_id, Channel.PUSH)
        device = get_device(db_session, event.device_id) \
            if event is not None and event.device_id is not None else None
        db_session.commit()
    if event is None:
        return Attempt(delivered=False)
    sent = _send(event, device)
    with unit_of_work() as db_session:
        if sent.outcome is Outcome.DELIVERED:
            outbox.mark_delivered(db_session, event.id)
            db_session.commit()
            PUSH_DELIVERIES.labels("delivered").inc()
            log.info("push %s (%s) delivered to device %s", event.message_id, event.event_type,
                     event.device_id)
            return Attempt(delivered=True)
        if sent.outcome is Outcome.GONE and event.device_id is not None:
            forget_gone_device(db_session, event.device_id)
            log.info("push %s: device %s is gone (%s): forgotten", event.message_id,
                     event.device_id, sent.error)
        delay = retry_delay(event.attempts)
        next_at = outbox.mark_failed_attempt(
            db_session, event, retry_in=timedelta(seconds=delay), error=sent.error or "failed",
            give_up=sent.outcome is not Outcome.FAILED)
        db_session.commit()
    PUSH_DELIVERIES.labels(_label(sent.outcome, next_at is None)).inc()
    if next_at is None:
        if sent.outcome is Outcome.FAILED:
            log.error("push %s (%s): giving up after %s attempts: %s", event.message_id,
                      event.event_type, event.attempts, sent.error)
        elif sent.outcome is Outcome.ABANDONED:
            log.warning("push %s to device %s: not sent: %s", event.message_id,
                        event.device_id, sent.error)
        return Attempt(delivered=False)
    log.info("push %s: attempt %s failed (%s), again in %.0fs", event.message_id,
             event.attempts, sent.error, delay)
    return Attempt(delivered=False, retry_in_seconds=delay)


def _label(outcome: Outcome, gave_up: bool) -> str:
    if outcome is Outcome.GONE:
        return "device_gone"
    return "gave_up" if gave_up else "retrying"


def _send(event: OutboxEvent, device: Device | None) -> Sent:
    if device is None:  # removed by its user, or reported gone by an earlier delivery
        return Sent(Outcome.ABANDONED, "the device is no longer registered")
    if device.user_id != event.user_id:  # registered by another account since: not theirs
        return Sent(Outcome.ABANDONED, "the device now belongs to another account")
    if not flags.is_enabled("push", event.user_id):  # turned off for this user (§14)
        return Sent(Outcome.ABANDONED, "the push feature is off for this user")
    platform = Platform(device.platform)
    sender = sender_for(platform)
    if sender is None:  # its provider was switched off since the row was written
        return Sent(Outcome.ABANDONED, f"push to {platform} is off")
    try:
        return sender(device, notification(event))
    except Exception as failure:  # a bug: counted as a failed attempt, tried again
        log.exception("push %s: could not send", event.message_id)
        return Sent(Outcome.FAILED, f"{type(failure).__name__}: {failure}"[:300])


def due_events() -> list[int]:
    """Push rows to send again; none while push is off (they wait, undelivered)."""
    if not push_platforms():
        return []
    with read_only() as db_session:
        return outbox.due_event_ids(db_session, channel=Channel.PUSH)
