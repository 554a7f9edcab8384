"""One Redis client per process (redis-py resets its pool by itself after a fork)."""

from functools import lru_cache

from redis import Redis

from config import get_settings


@lru_cache(maxsize=1)
def get_redis() -> Redis:
    return Redis.from_url(
        get_settings().redis_url,
        socket_connect_timeout=2,
        socket_timeout=2,
        health_check_interval=30,
    )
