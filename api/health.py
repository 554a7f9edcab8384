"""Liveness and readiness probes (API guide §10)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from api.documented import Reply, documented
from api.responses import Health, NotReady, Ready
from services.health import OK, configuration_warnings, dependency_checks

health = Blueprint("health", __name__)


@health.get("/healthz")
@documented(operation_id="healthz", summary="Liveness: 200 while the process lives",
            tag="operations", auth="public", responses={200: Reply("alive", Health)})
def healthz() -> Response:
    return jsonify({"status": "ok"})


@health.get("/readyz")
@documented(operation_id="readyz", summary="Readiness: 200 only when PostgreSQL and Redis (and "
                                             "an object store, if configured) answer",
            tag="operations", auth="public",
            responses={200: Reply("ready", Ready),
                       503: Reply("not_ready: a dependency is down", NotReady)})
def readyz() -> tuple[Response, int]:
    checks = dependency_checks()
    warnings = configuration_warnings()
    if any(value != OK for value in checks.values()):
        return jsonify({"error": {"code": "not_ready", "message": "a dependency is down"},
                        "checks": checks, "warnings": warnings}), 503
    return jsonify({"status": "ready", "checks": checks, "warnings": warnings}), 200
