"""The Celery worker's side of the metrics: its own HTTP endpoint, its heartbeat, and a count of
every task it runs.

The worker is one process (`--pool threads`), so prometheus-client's ordinary in-process
registry is right for it: its job, GetImg, credit and webhook counters (`services/metrics.py`)
are served at `WORKER_METRICS_HOST:WORKER_METRICS_PORT` (127.0.0.1 by default: for a Prometheus
on the same host, or a tunnel; nothing else of the worker is reachable). Unset port: no
endpoint. It must not share the web's `PROMETHEUS_MULTIPROC_DIR`: gunicorn empties that folder
when it starts.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from typing import Any

from celery.signals import task_postrun, task_prerun, worker_ready, worker_shutdown
from prometheus_client import Counter, Histogram, start_http_server
from redis.exceptions import RedisError

from config import get_settings
from services import worker_heartbeat

log = logging.getLogger(__name__)

TASKS = Counter("headshots_celery_tasks", "Celery tasks run, by task name and final state "
                "(SUCCESS, RETRY, FAILURE)", ["task", "state"])
TASK_DURATION = Histogram("headshots_celery_task_duration_seconds",
                          "Time a task ran, by task name", ["task"])

_stop = threading.Event()
_started_at: dict[str, float] = {}  # task id -> perf_counter at start
_started_lock = threading.Lock()


def _hostname(sender: Any) -> str:
    return str(getattr(sender, "hostname", None) or socket.gethostname())


@worker_ready.connect
def _on_ready(sender: Any = None, **_: Any) -> None:
    # The heartbeat first: a metrics port already taken must not also make the worker look dead.
    threading.Thread(target=_beat_until_stopped, args=(_hostname(sender),), daemon=True,
                     name="metrics-heartbeat").start()
    settings = get_settings()
    if settings.worker_metrics_port is not None:
        start_http_server(settings.worker_metrics_port, addr=settings.worker_metrics_host)
        log.info("metrics on http://%s:%s/metrics", settings.worker_metrics_host,
                 settings.worker_metrics_port)


def _beat_until_stopped(hostname: str) -> None:
    while True:
        try:
            worker_heartbeat.beat(hostname)
        except RedisError:  # Redis away: the heartbeat lapses, as it should
            log.warning("heartbeat: Redis did not answer")
        if _stop.wait(worker_heartbeat.INTERVAL_SECONDS):
            break
    with contextlib.suppress(RedisError):  # else the key runs out by itself
        worker_heartbeat.stop(hostname)


@worker_shutdown.connect
def _on_shutdown(**_: Any) -> None:
    _stop.set()


@task_prerun.connect
def _task_started(task_id: str | None = None, **_: Any) -> None:
    if task_id:
        with _started_lock:
            _started_at[task_id] = time.perf_counter()


@task_postrun.connect
def _task_ended(task_id: str | None = None, task: Any = None, state: str | None = None,
                **_: Any) -> None:
    name = getattr(task, "name", None) or "unknown"
    TASKS.labels(name, state or "unknown").inc()
    with _started_lock:
        started = _started_at.pop(task_id or "", None)
    if started is not None:
        TASK_DURATION.labels(name).observe(time.perf_counter() - started)
