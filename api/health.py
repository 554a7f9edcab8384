"""Liveness and readiness probes (contract §10)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api.documented import Reply, documented
from api.responses import Health, NotReady, Ready
from models.db import get_engine
from workers.redis_connection import get_redis

health = Blueprint("health", __name__)


@health.get("/healthz")
@documented(operation_id="healthz", summary="Liveness: 200 while the process lives",
            tag="operations", auth="public", responses={200: Reply("alive", Health)})
def healthz() -> Response:
    return jsonify({"status": "ok"})


@health.get("/readyz")
@documented(operation_id="readyz", summary="Readiness: 200 only when PostgreSQL and Redis answer",
            tag="operations", auth="public",
            responses={200: Reply("ready", Ready), 503: Reply("a dependency is down", NotReady)})
def readyz() -> tuple[Response, int]:
    checks: dict[str, str] = {}
    try:
        with get_engine().connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["postgres"] = "ok"
    except SQLAlchemyError as error:
        checks["postgres"] = f"unavailable: {type(error).__name__}"
    try:
        get_redis().ping()
        checks["redis"] = "ok"
    except RedisError as error:
        checks["redis"] = f"unavailable: {type(error).__name__}"
    ready = all(value == "ok" for value in checks.values())
    if not ready:
        return jsonify({"error": {"code": "not_ready", "message": "a dependency is down"},
                        "checks": checks}), 503
    return jsonify({"status": "ready", "checks": checks}), 200
