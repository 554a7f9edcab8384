"""Handing committed work to the workers: the one place that publishes their tasks.

Tasks are published by name (`workers/celery_app.py`), so the web process never imports the
workers' code.
"""

from __future__ import annotations

from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError

from workers.celery_app import DELIVER_WEBHOOK_TASK, GENERATE_TASK, celery_app

# What a broker that cannot take the message raises.
BROKER_FAULTS = (BrokerError, RedisError, OSError)


def enqueue_generation(generation_id: int, *, countdown: float | None = None) -> None:
    """Publish the job's task (ids only: the worker reads the row), to run now or `countdown`
    seconds from now. Raises BROKER_FAULTS."""
    # The shadow name is what Flower and the worker's log show for the task (kept on retries):
    # an operator finds a headshot's task by its id. The worker runs the task by its real name.
    celery_app.send_task(GENERATE_TASK, args=[generation_id], countdown=countdown,
                         shadow=generation_task_title(generation_id))


def generation_task_title(generation_id: int) -> str:
    return f"{GENERATE_TASK} headshot={generation_id}"


def enqueue_webhook(event_id: int) -> None:
    """Publish an outbox event's delivery. Raises BROKER_FAULTS."""
    celery_app.send_task(DELIVER_WEBHOOK_TASK, args=[event_id])
