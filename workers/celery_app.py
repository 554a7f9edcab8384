"""The one Celery app: `celery -A workers.celery_app worker|beat|flower`.

Built from the same settings object as the web app: `celery_init(settings)` points it at them
(the Flask app factory calls it; so does this module, with the environment's settings, for the
`celery` command line).
"""

import logging
from typing import Any

from celery import Celery, Task
from celery.signals import (
    before_task_publish,
    celeryd_init,
    setup_logging,
    task_postrun,
    task_prerun,
    worker_ready,
)

from config import Settings, get_settings
from config.logs import bind_request_id, configure_logging, current_request_id
from workers.memory import keep_freed_memory
from workers.task_events import FlushTaskEvents

# Task names: the web process publishes by name, without importing the tasks' code.
GENERATE_TASK = "headshots.generate"
DELIVER_WEBHOOK_TASK = "webhooks.deliver"
DELIVER_PUSH_TASK = "push.deliver"
CELERY_PER_TASK_LOGGERS = ("celery.worker.strategy", "celery.app.trace")

celery_app = Celery("headshots",
                    include=["workers.tasks", "workers.maintenance", "workers.webhooks",
                             "workers.push.tasks", "workers.metrics"])
celery_app.config_from_object("celeryconfig")
celery_app.steps["consumer"].add(FlushTaskEvents)


def celery_init(settings: Settings) -> Celery:
    celery_app.conf.update(broker_url=settings.redis_url)
    return celery_app


celery_init(get_settings())


@celeryd_init.connect
def _refuse_to_run_without_getimg_key(**_: Any) -> None:
    settings = get_settings()
    if not settings.getimg_api_key and not settings.getimg_is_local_fake:
        # SystemExit, because Celery logs and ignores ordinary exceptions from signal handlers.
        raise SystemExit(
            "GETIMG_API_KEY is not set and GETIMG_API_URL is not a local fake: refusing to start"
        )


@celeryd_init.connect
def _tune_the_allocator(**_: Any) -> None:
    # A worker only (beat and the web import this module too), before its pool's threads.
    keep_freed_memory()


@setup_logging.connect
def _log_as_json(**_: Any) -> None:
    # Connected, so Celery leaves the root logger to us: the worker's and beat's lines (Celery's
    # own included) come out in the same JSON as the web's.
    settings = get_settings()
    configure_logging(log_format=settings.log_format, level=settings.log_level)
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        # Celery's "Task … received" and "Task … succeeded in …s" lines say again what each
        # job's own lines say (claimed, completed: services/after_commit.py), and writing them
        # costs the worker CPU in every job for nothing new. A failure
        # (ERROR) still shows; LOG_LEVEL=DEBUG shows them all.
        for name in CELERY_PER_TASK_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)


# The request id travels with every task a request (or a task) publishes, in the message's
# headers, and is bound while the worker runs it: config/logs.py.
@before_task_publish.connect
def _carry_request_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
    request_id = current_request_id()
    if headers is not None and request_id is not None:
        headers.setdefault("request_id", request_id)


@task_prerun.connect
def _bind_request_id(task: Task | None = None, **_: Any) -> None:
    bind_request_id(task.request.get("request_id") if task is not None else None)


@task_postrun.connect
def _unbind_request_id(**_: Any) -> None:
    bind_request_id(None)


@worker_ready.connect
def _warn_about_configuration(**_: Any) -> None:
    # The broker's own Redis evicting keys would lose queued jobs: tell the operator loudly.
    from services.health import warn_about_configuration

    warn_about_configuration("worker")
