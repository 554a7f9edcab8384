"""Celery tasks of the scheduled upkeep (API guide §9), each schedule declared with its task.

The work itself is `services/maintenance.py`'s.
"""

from __future__ import annotations

import contextlib

from celery.schedules import crontab
from redis.exceptions import LockError

from config import get_settings
from services import analytics, maintenance
from services.redis_client import get_redis
from workers.celery_app import celery_app

REAPER_LOCK_KEY = "headshots:reaper-running"


@celery_app.task(name="maintenance.reap_stuck_jobs")
def reap_stuck_jobs() -> dict[str, int]:
    # One sweep at a time: a slow sweep and the next one would only trip over each other.
    lock = get_redis().lock(REAPER_LOCK_KEY, timeout=300, blocking=False)
    if not lock.acquire():
        return maintenance.ReaperSweep().as_dict()
    try:
        return maintenance.reap_overdue_jobs().as_dict()
    finally:
        with contextlib.suppress(LockError):  # expired or lost with a Redis restart: fine
            lock.release()


@celery_app.task(name="maintenance.delete_expired_originals")
def delete_expired_originals() -> int:
    return maintenance.delete_expired_originals()


@celery_app.task(name="maintenance.roll_up_analytics")
def roll_up_analytics() -> int:
    """The last few UTC days into headshot_analytics; again is harmless (an upsert)."""
    return analytics.roll_up_recent()


@celery_app.task(name="maintenance.purge_idempotency_keys")
def purge_idempotency_keys() -> int:
    return maintenance.purge_idempotency_keys()


def beat_schedule() -> dict[str, dict[str, object]]:
    settings = get_settings()
    return {
        "reap-stuck-jobs": {"task": reap_stuck_jobs.name,
                            "schedule": float(settings.reaper_interval_seconds)},
        "delete-expired-originals": {"task": delete_expired_originals.name,
                                     "schedule": float(settings.cleanup_interval_seconds)},
        "purge-idempotency-keys": {"task": purge_idempotency_keys.name, "schedule": 3600.0},
        # 00:15 UTC: yesterday has ended; its late finishers are caught on the next nights.
        "roll-up-analytics": {"task": roll_up_analytics.name,
                              "schedule": crontab(minute=15, hour=0)},
    }
