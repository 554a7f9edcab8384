"""The one Celery app: `celery -A workers.celery_app worker|beat|flower`."""

from typing import Any

from celery import Celery
from celery.signals import celeryd_init

from config import get_settings

celery_app = Celery("headshots", include=["workers.generate_task", "workers.maintenance"])
celery_app.config_from_object("celeryconfig")


@celeryd_init.connect
def _refuse_to_run_without_getimg_key(**_: Any) -> None:
    settings = get_settings()
    if not settings.getimg_api_key and not settings.getimg_is_local_fake:
        # SystemExit, because Celery logs and ignores ordinary exceptions from signal handlers.
        raise SystemExit(
            "GETIMG_API_KEY is not set and GETIMG_API_URL is not a local fake: refusing to start"
        )
