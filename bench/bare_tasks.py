"""The worker's bare baseline: a Celery app of a few lines whose one task waits as long as a
GetImg call (`time.sleep`), counts itself done in Redis and does nothing else, run with the
Procfile worker's flags (threads pool, 16, no gossip or mingle) and its reliability settings
(acknowledged late, prefetch 1, task events on for Flower). Its CPU per task is what Celery
and Redis cost per job on this machine in this run, with no application code: the drain's
worker CPU per job is compared with it.
"""

from __future__ import annotations

import os
import time
from typing import Any, cast

from celery import Celery
from celery.signals import worker_ready
from redis import Redis

QUEUE = "bare"
DONE_KEY = "bench:bare:done"
READY_KEY = "bench:bare:ready"  # set once the worker takes tasks (its log is at WARNING)

app = Celery("bare", broker=os.environ["REDIS_URL"])
app.conf.update(task_acks_late=True, task_reject_on_worker_lost=True,
                worker_prefetch_multiplier=1, task_ignore_result=True,
                worker_send_task_events=True, task_default_queue=QUEUE)
redis = Redis.from_url(os.environ["REDIS_URL"])


def done_count() -> int:
    return int(cast(bytes | None, redis.get(DONE_KEY)) or 0)


@app.task(name="bare.wait")
def wait(seconds: float) -> None:
    time.sleep(seconds)
    redis.incr(DONE_KEY)


@worker_ready.connect
def _say_ready(**_: Any) -> None:
    redis.set(READY_KEY, 1)
