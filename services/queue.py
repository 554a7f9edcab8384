"""Handing committed work to the workers: the one place that publishes their tasks.

Tasks are published by name (`workers/celery_app.py`), so the web process never imports the
workers' code.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from kombu.exceptions import BatchPublishError
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError

from workers.celery_app import (
    DELIVER_PUSH_TASK,
    DELIVER_WEBHOOK_TASK,
    GENERATE_TASK,
    celery_app,
)

log = logging.getLogger(__name__)

# What a broker that cannot take the message raises.
BROKER_FAULTS = (BrokerError, RedisError, OSError)

# Publish without declaring the queue first. Celery declares the task's queue before every
# publish (kombu's maybe_declare, through connection.ensure with the retry policy), work that
# buys nothing here and is a large share of a publish. On Redis a task goes to the anonymous
# exchange, straight onto the queue's list by name, and needs no declared queue or binding;
# the workers declare the queues they consume.
NO_DECLARE: dict[str, list[object]] = {"declare": []}


class _Published:
    """What `send_task` hands back for a published task: its id, nothing else. Celery's
    default is an AsyncResult (a promise, the app's backend), which nobody here reads: the
    tasks keep no results (celeryconfig: task_ignore_result, no result backend)."""

    __slots__ = ("id", "ignored")

    def __init__(self, task_id: str) -> None:
        self.id = task_id
        self.ignored = True


def _publishing(job_id: int) -> dict[str, Any]:
    """send_task's options for a job's task, given rather than worked out per publish.

    The shadow name is what Flower and the worker's log show for the task (kept on retries):
    an operator finds a headshot's task by its id; the worker runs the task by its real name.
    The args' repr for Flower is written here (Celery would run its saferepr over them); no
    result is kept, so Celery's backend is not consulted; a web request has no parent task.
    """
    return {"shadow": job_task_title(job_id),
            "argsrepr": f"[{job_id}]", "kwargsrepr": "{}",
            "ignore_result": True, "add_to_parent": False, "result_cls": _Published,
            **NO_DECLARE}


def enqueue_job(job_id: int, *, countdown: float | None = None) -> None:
    """Publish the job's task (ids only: the worker reads the row), to run now or `countdown`
    seconds from now. Raises BROKER_FAULTS."""
    celery_app.send_task(GENERATE_TASK, args=[job_id], countdown=countdown,
                         **_publishing(job_id))


def enqueue_jobs(job_ids: Sequence[int]) -> dict[int, Exception]:
    """Publish several jobs' tasks; returns those the broker refused, with why.

    Several go out in one Redis round trip (kombu's publish batch: one pipeline). That
    pipeline is not retried, and a failed one leaves unknown which messages arrived: then
    each is published again on its own, with the publish retry policy (`celeryconfig.py`).
    A message that had arrived gets a twin, which the worker's conditional claim turns into
    a no-op (as for any redelivery).
    """
    if len(job_ids) > 1:
        try:
            with celery_app.producer_or_acquire() as producer, producer.batch():
                for job_id in job_ids:
                    celery_app.send_task(GENERATE_TASK, args=[job_id],
                                         producer=producer, **_publishing(job_id))
            return {}
        except (BatchPublishError, *BROKER_FAULTS) as error:
            log.warning("publishing %d jobs at once failed (%s): one at a time",
                        len(job_ids), error)
    refused: dict[int, Exception] = {}
    for job_id in job_ids:
        try:
            enqueue_job(job_id)
        except BROKER_FAULTS as error:
            refused[job_id] = error
    return refused


def job_task_title(job_id: int) -> str:
    return f"{GENERATE_TASK} headshot={job_id}"


def enqueue_webhook(event_id: int) -> None:
    """Publish an outbox event's delivery. Raises BROKER_FAULTS."""
    celery_app.send_task(DELIVER_WEBHOOK_TASK, args=[event_id], **NO_DECLARE)


def enqueue_push(event_id: int) -> None:
    """Publish an outbox push row's delivery. Raises BROKER_FAULTS."""
    celery_app.send_task(DELIVER_PUSH_TASK, args=[event_id], **NO_DECLARE)
