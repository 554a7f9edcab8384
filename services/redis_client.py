"""One Redis client per process (redis-py resets its pool by itself after a fork)."""


from redis import Redis

from config import get_settings, per_settings


@per_settings
def get_redis() -> Redis:
    return Redis.from_url(
        get_settings().redis_url,
        socket_connect_timeout=2,
        socket_timeout=2,
        health_check_interval=30,
    )
