"""Celery task `headshots.generate`: takes the generation id only, safe to run twice."""

from celery import Task

from workers.celery_app import celery_app
from workers.generation import run_attempt


@celery_app.task(name="headshots.generate", bind=True, max_retries=None)
def generate_headshot(self: Task, generation_id: int) -> None:
    outcome = run_attempt(generation_id)
    if outcome.retry_in_seconds is not None:
        # The row is already back in `queued`; this only schedules the next attempt.
        raise self.retry(countdown=outcome.retry_in_seconds)
