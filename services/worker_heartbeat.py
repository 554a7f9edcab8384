"""Which Celery workers are alive: each writes a heartbeat key with a short TTL to Redis every
few seconds (`workers/metrics.py`), and the metrics count the keys still there at scrape time.

Cheaper and steadier than `celery inspect` (a broadcast that waits for every worker's reply),
and it works with the workers' `--without-heartbeat`.
"""

from __future__ import annotations

import time

from services.redis_client import get_redis

KEY_PREFIX = "headshots:worker-heartbeat:"
INTERVAL_SECONDS = 10.0
TTL_SECONDS = 45  # a few missed beats before a worker counts as gone


def beat(hostname: str) -> None:
    get_redis().set(KEY_PREFIX + hostname, f"{time.time():.3f}", ex=TTL_SECONDS)


def stop(hostname: str) -> None:
    """A worker shutting down cleanly is gone at once, not a TTL later."""
    get_redis().delete(KEY_PREFIX + hostname)


def alive_count() -> int:
    return sum(1 for _ in get_redis().scan_iter(match=KEY_PREFIX + "*", count=100))
