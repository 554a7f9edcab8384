"""Each user's budget of refunded cancels of processing jobs (docs/api.md §6).

A job is refunded when its owner cancels it, and once it is processing its GetImg call has
been made: GetImg bills that call whether or not anybody waits for the answer. Without a
limit, generate-and-cancel is GetImg at our expense (a one-credit user can repeat it as fast as
the write budget allows). So a user may cancel (or delete) RATE_LIMIT_PROCESSING_CANCELS of
their processing jobs per window; past that the cancel is refused (429 with Retry-After,
nothing changed) and the job runs on to its result, which the user paid for. A queued job
has cost nothing yet: its cancel is never counted or refused.

Counted in Redis (the `limits` library Flask-Limiter is built on, fixed windows that start at
the first cancel). Redis unreachable: the cancel goes ahead uncounted, as the request budgets
do (`api/limits.py`); refusing a user's cancel for a broken counter would be worse.
"""

from __future__ import annotations

import logging
import math
import time

from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import RedisStorage
from limits.strategies import FixedWindowRateLimiter
from redis.exceptions import RedisError
from sqlalchemy.orm import Session

from config import get_settings, per_settings
from models.errors import RateLimited
from models.job import JobStatus, get_job
from services.redis_client import get_redis

log = logging.getLogger(__name__)

SCOPE = "processing-cancels"


@per_settings
def _limiter() -> FixedWindowRateLimiter:
    redis = get_redis()
    storage = RedisStorage(get_settings().redis_url, connection_pool=redis.connection_pool,
                           key_prefix="headshots-cancels")
    return FixedWindowRateLimiter(storage)


@per_settings
def _budget() -> list[RateLimitItem]:
    return parse_many(get_settings().rate_limit_processing_cancels)


def spend_if_processing(db_session: Session, *, user_id: int, job_id: int) -> None:
    """Before the user's cancel (or delete) of their job: if it is processing, take one from
    their budget, or raise RateLimited if it is spent. The job's row is locked first, so the
    status read is the one the cancel then ends. NotFound if it is not the user's."""
    job = get_job(db_session, user_id=user_id, job_id=job_id, lock=True)
    if job.status != JobStatus.PROCESSING or not get_settings().rate_limit_enabled:
        return
    limiter, identity = _limiter(), str(user_id)
    try:
        for item in _budget():
            if not limiter.test(item, SCOPE, identity):
                reset_at = limiter.get_window_stats(item, SCOPE, identity).reset_time
                raise RateLimited(
                    f"cancels of processing headshots are limited to {item}, and that is "
                    f"spent: this one runs on and is charged as usual (a queued headshot can "
                    f"still be cancelled)",
                    retry_after=max(1, math.ceil(reset_at - time.time())))
        for item in _budget():
            limiter.hit(item, SCOPE, identity)
    except (RedisError, StorageError):
        log.warning("cancel budget: Redis unreachable; user %s's cancel not counted", user_id,
                    exc_info=True)

