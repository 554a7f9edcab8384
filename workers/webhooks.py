"""Celery tasks of the completion webhooks: deliver one event, and the sweep that re-sends what
a lost message or a dead worker left behind (its schedule declared here)."""

from __future__ import annotations

from celery import Task

from models.db import CONNECTION_FAULTS
from services import webhooks
from workers.celery_app import DELIVER_WEBHOOK_TASK, celery_app

SWEEP_SECONDS = 30.0
# Past this, a countdown would outlive the broker's visibility timeout (celeryconfig) and the
# message would be handed out again meanwhile: the sweeper sends such a late retry instead.
MAX_COUNTDOWN_SECONDS = 600.0


@celery_app.task(name=DELIVER_WEBHOOK_TASK, bind=True, max_retries=None,
                 autoretry_for=CONNECTION_FAULTS, retry_backoff=2, retry_backoff_max=60)
def deliver_webhook(self: Task, event_id: int) -> bool:
    attempt = webhooks.deliver(event_id)
    if attempt.retry_in_seconds is not None and attempt.retry_in_seconds <= MAX_COUNTDOWN_SECONDS:
        raise self.retry(countdown=attempt.retry_in_seconds)
    return attempt.delivered


@celery_app.task(name="webhooks.sweep")
def sweep_webhooks() -> int:
    """Re-enqueue every event that is due and held by nobody (its message was lost)."""
    due = webhooks.due_events()
    for event_id in due:
        deliver_webhook.apply_async(args=[event_id])
    return len(due)


def beat_schedule() -> dict[str, dict[str, object]]:
    return {"sweep-webhooks": {"task": sweep_webhooks.name, "schedule": SWEEP_SECONDS}}
