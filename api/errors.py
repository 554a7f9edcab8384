"""Every error leaves as `{"error": {"code", "message"}}` (API guide §3), 500s included."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify
from kombu.exceptions import OperationalError as BrokerError
from pydantic import ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException

from media.images import ImageTooLarge, InvalidImage, UnsupportedImage
from models.db import is_connection_fault
from models.errors import (
    Conflict,
    DomainError,
    FeatureDisabled,
    InsufficientCredits,
    InvalidRequest,
    NotFound,
    RateLimited,
    ServiceUnavailable,
)

log = logging.getLogger(__name__)

# THE table: each domain error's HTTP status (its code is the error's own). A subclass not
# listed takes its nearest listed ancestor's status.
ERROR_STATUS: dict[type[DomainError], int] = {
    InvalidRequest: 400,
    InvalidImage: 400,
    InsufficientCredits: 402,
    FeatureDisabled: 403,
    NotFound: 404,
    Conflict: 409,
    ImageTooLarge: 413,
    UnsupportedImage: 415,
    RateLimited: 429,
    ServiceUnavailable: 503,
}
# A uniqueness rule the database enforced (two requests raced): which conflict it was.
UNIQUE_RULE_CODES = {
    "uq_credit_histories_generation_round": "already_charged_or_refunded",
    "uq_idempotency_keys_user_key": "idempotency_key_reused",
}
UNIQUE_VIOLATION = "23505"  # PostgreSQL's SQLSTATE
# Every 404 says the same, whatever the cause: an id that cannot exist (`/history/abc`), one
# that does not, another user's, a deleted one, an unknown path, an expired media link. A
# message that told them apart would tell a caller which ids exist.
NOT_FOUND_MESSAGE = "no such resource"
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    416: "range_not_satisfiable",
    429: "rate_limited",
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def error_response(status: int, code: str, message: str,
                   headers: dict[str, str] | None = None) -> Response:
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    response.headers.update(headers or {})
    return response


def validation_message(error: ValidationError) -> str:
    """Name the offending field first, as the app shows the message next to it."""
    first = error.errors()[0]
    message = str(first["msg"])
    if first["type"] == "value_error":
        # Our own validators' words, without pydantic's "Value error, " before them.
        message = str(first.get("ctx", {}).get("error", message))
        if not first["loc"]:
            # A rule across fields (a model validator): its message starts with the field it
            # blames.
            return message
    field = ".".join(str(part) for part in first["loc"]) or "body"
    return f"{field}: {message}"


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(error: ApiError) -> Response:
        return error_response(error.status, error.code, error.message, error.headers)

    @app.errorhandler(DomainError)
    def _domain_error(error: DomainError) -> Response:
        if isinstance(error, NotFound):
            log.info("not found: %s", error.message)
            return error_response(404, error.code, NOT_FOUND_MESSAGE)
        message = f"{error.field}: {error.message}" if error.field else error.message
        headers = ({"Retry-After": str(error.retry_after)} if isinstance(error, RateLimited)
                   else None)
        return error_response(http_status(error), error.code, message, headers)

    @app.errorhandler(ValidationError)
    def _invalid(error: ValidationError) -> Response:
        return error_response(400, "invalid_request", validation_message(error))

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> Response:
        status = error.code or 500
        # The exception's own headers say what the status needs: `Allow` on a 405,
        # `Content-Range` on a 416, `WWW-Authenticate` on a 401.
        headers: dict[str, Any] = {name: value for name, value in error.get_headers()
                                   if name.lower() != "content-type"}
        message = error.description or error.name
        if status == 404:
            message = NOT_FOUND_MESSAGE
        return error_response(status, HTTP_CODES.get(status, "http_error"), message, headers)

    @app.errorhandler(IntegrityError)
    def _integrity(error: IntegrityError) -> Response:
        if getattr(error.orig, "pgcode", None) != UNIQUE_VIOLATION:
            return _unexpected(error)
        rule = getattr(getattr(error.orig, "diag", None), "constraint_name", None)
        log.info("uniqueness rule %s refused a racing request", rule)
        return error_response(409, UNIQUE_RULE_CODES.get(rule or "", "conflict"),
                              "a concurrent request changed this resource; nothing was changed")

    @app.errorhandler(DBAPIError)
    def _database_down(error: DBAPIError) -> Response:
        if not is_connection_fault(error):
            return _unexpected(error)
        log.error("database unavailable: %s", error)
        return error_response(503, "database_unavailable",
                              "the database is unavailable; nothing was charged, try again")

    @app.errorhandler(PoolTimeoutError)
    def _database_busy(error: PoolTimeoutError) -> Response:
        # Every pooled connection stayed busy past the pool's timeout: the database is slow,
        # and a gevent process can have far more requests waiting than it has connections.
        log.error("database pool exhausted: %s", error)
        return error_response(503, "database_unavailable",
                              "the database is busy; nothing was charged, try again")

    @app.errorhandler(RedisConnectionError)
    @app.errorhandler(RedisTimeoutError)
    @app.errorhandler(BrokerError)
    def _redis_down(error: Exception) -> Response:
        log.error("redis unavailable: %s", error)
        return error_response(503, "queue_unavailable",
                              "the job queue is unavailable; nothing was charged, try again")

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        log.exception("unhandled error")
        return error_response(500, "internal_error", "something went wrong on our side")



def http_status(error: DomainError) -> int:
    """The status ERROR_STATUS gives the error's class or its nearest listed ancestor."""
    return next(ERROR_STATUS[kind] for kind in type(error).__mro__ if kind in ERROR_STATUS)
