"""Celery task `headshots.generate`: takes the generation id only, safe to run twice."""

from celery import Task

from models.db import CONNECTION_FAULTS
from services.queue import enqueue_job
from workers.attempt import run_attempt
from workers.celery_app import GENERATE_TASK, celery_app


# Transient faults of our own infrastructure (PostgreSQL restarting, a dropped connection):
# the task runs again later. A job left half-way is the reaper's once its deadline passes.
@celery_app.task(
    name=GENERATE_TASK,
    bind=True,
    max_retries=25,
    autoretry_for=CONNECTION_FAULTS,
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
)
def generate_headshot(self: Task, generation_id: int) -> None:
    outcome = run_attempt(generation_id)
    if outcome.waiting_for_slot:
        # Not a fault: a fresh message for later, so a long wait for GetImg capacity never
        # spends the retry budget that is there for faults (a retry would count against it).
        enqueue_job(generation_id, countdown=outcome.retry_in_seconds)
        return
    if outcome.retry_in_seconds is not None:
        # The row is already back in `queued`; this only schedules the next attempt.
        raise self.retry(countdown=outcome.retry_in_seconds)
