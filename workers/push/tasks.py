"""Celery tasks of push notifications: deliver one outbox push row, and the sweep that re-sends
what a lost message or a dead worker left behind (its schedule declared here). They mirror the
webhooks' tasks (`workers/webhooks.py`): the same countdown ceiling, the same sweep period."""

from __future__ import annotations

from celery import Task

from models.db import CONNECTION_FAULTS
from services import push
from workers.celery_app import DELIVER_PUSH_TASK, celery_app
from workers.webhooks import MAX_COUNTDOWN_SECONDS, SWEEP_SECONDS


@celery_app.task(name=DELIVER_PUSH_TASK, bind=True, max_retries=None,
                 autoretry_for=CONNECTION_FAULTS, retry_backoff=2, retry_backoff_max=60)
def deliver_push(self: Task, event_id: int) -> bool:
    attempt = push.deliver(event_id)
    if attempt.retry_in_seconds is not None and attempt.retry_in_seconds <= MAX_COUNTDOWN_SECONDS:
        raise self.retry(countdown=attempt.retry_in_seconds)
    return attempt.delivered


@celery_app.task(name="push.sweep")
def sweep_push() -> int:
    """Re-enqueue every push row that is due and held by nobody (its message was lost)."""
    due = push.due_events()
    for event_id in due:
        deliver_push.apply_async(args=[event_id])
    return len(due)


def beat_schedule() -> dict[str, dict[str, object]]:
    return {"sweep-push": {"task": sweep_push.name, "schedule": SWEEP_SECONDS}}

