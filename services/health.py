"""Readiness (API guide §10): whether PostgreSQL, Redis and the image store answer, each checked
on its own; and what is configured dangerously without being down (`warnings`)."""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import RedisError, ResponseError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from config import get_settings
from media import get_storage
from models.db import get_engine
from models.errors import ServiceUnavailable
from services.redis_client import get_redis

OK = "ok"
# The only policy under which Redis never drops a key to make room: any other one may evict
# the Celery queue's lists (jobs silently lost until the reaper finds them) and status keys.
SAFE_EVICTION_POLICY = "noeviction"

log = logging.getLogger(__name__)


def dependency_checks() -> dict[str, str]:
    """`{"postgres": "ok" | "unavailable: <error>", "redis": ..., "storage": ...}`; `storage`
    only with an object store (STORAGE_BACKEND=s3): local folders are checked by using them."""
    checks: dict[str, str] = {}
    try:
        with get_engine().connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["postgres"] = OK
    except SQLAlchemyError as error:
        checks["postgres"] = f"unavailable: {type(error).__name__}"
    try:
        get_redis().ping()
        checks["redis"] = OK
    except RedisError as error:
        checks["redis"] = f"unavailable: {type(error).__name__}"
    if get_settings().storage_backend == "s3":
        try:
            get_storage().check()
            checks["storage"] = OK
        except ServiceUnavailable as error:
            checks["storage"] = f"unavailable: {error.message}"
    return checks


def redis_eviction_policy() -> str | None:
    """Redis's `maxmemory-policy`, or None where it cannot be read (Redis down, or a managed
    Redis that refuses CONFIG)."""
    try:
        answer: dict[Any, Any] = get_redis().config_get("maxmemory-policy")  # type: ignore[assignment]
    except (ResponseError, RedisError):
        return None
    value = next(iter(answer.values()), None) if answer else None
    return value.decode() if isinstance(value, bytes) else value


def configuration_warnings() -> list[str]:
    """What an operator must fix although everything answers (readiness reports it)."""
    warnings = []
    policy = redis_eviction_policy()
    if policy is not None and policy != SAFE_EVICTION_POLICY:
        warnings.append(
            f"redis: maxmemory-policy is {policy!r}, not {SAFE_EVICTION_POLICY!r}: under memory "
            f"pressure Redis may evict queued jobs and status keys; set "
            f"`maxmemory-policy {SAFE_EVICTION_POLICY}`"
        )
    return warnings


def warn_about_configuration(process: str) -> None:
    """At start (web and worker): each configuration warning as a loud log line."""
    for warning in configuration_warnings():
        log.warning("%s start: CONFIGURATION WARNING: %s", process, warning)
    log.info("%s start: %s", process, push_state())


def push_state() -> str:
    """Which push providers are on (§13): each is on when its settings are set."""
    platforms = sorted(get_settings().push_platforms)
    if platforms:
        return f"push notifications on for {', '.join(platforms)}"
    return ("push notifications off: none of VAPID_PRIVATE_KEY, FCM_CREDENTIALS_FILE, "
            "APNS_KEY_FILE is set")
