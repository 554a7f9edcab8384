"""The one Celery app: `celery -A workers.celery_app worker|beat|flower`.

Built from the same settings object as the web app: `celery_init(settings)` points it at them
(the Flask app factory calls it; so does this module, with the environment's settings, for the
`celery` command line).
"""

from typing import Any

from celery import Celery
from celery.signals import celeryd_init, worker_ready

from config import Settings, get_settings

# Task names: the web process publishes by name, without importing the tasks' code.
GENERATE_TASK = "headshots.generate"
DELIVER_WEBHOOK_TASK = "webhooks.deliver"

celery_app = Celery("headshots",
                    include=["workers.tasks", "workers.maintenance", "workers.webhooks",
                             "workers.metrics"])
celery_app.config_from_object("celeryconfig")


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


@worker_ready.connect
def _warn_about_configuration(**_: Any) -> None:
    # The broker's own Redis evicting keys would lose queued jobs: tell the operator loudly.
    from services.health import warn_about_configuration

    warn_about_configuration("worker")
