"""Liveness and readiness probes (contract §10)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from services.health import OK, dependency_checks

health = Blueprint("health", __name__)


@health.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


@health.get("/readyz")
def readyz() -> tuple[Response, int]:
    checks = dependency_checks()
    if any(value != OK for value in checks.values()):
        return jsonify({"error": {"code": "not_ready", "message": "a dependency is down"},
                        "checks": checks}), 503
    return jsonify({"status": "ready", "checks": checks}), 200
