"""Readiness (contract §10): whether PostgreSQL and Redis answer, each checked on its own."""

from __future__ import annotations

from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from models.db import get_engine
from services.redis_client import get_redis

OK = "ok"


def dependency_checks() -> dict[str, str]:
    """`{"postgres": "ok" | "unavailable: <error>", "redis": ...}`."""
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
    return checks
