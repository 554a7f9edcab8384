"""Every error leaves as `{"error": {"code", "message"}}` (contract §3), 500s included."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify
from kombu.exceptions import OperationalError as BrokerError
from pydantic import ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from models.errors import Conflict, DomainError, InsufficientCredits, InvalidRequest, NotFound
from workers.images import ImageRejected
from workers.submission import ServiceUnavailable

log = logging.getLogger(__name__)

DOMAIN_STATUS: dict[type[DomainError], int] = {
    InvalidRequest: 400,
    InsufficientCredits: 402,
    NotFound: 404,
    Conflict: 409,
    ServiceUnavailable: 503,
}
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
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
    field = ".".join(str(part) for part in first["loc"]) or "body"
    return f"{field}: {first['msg']}"


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(error: ApiError) -> Response:
        return error_response(error.status, error.code, error.message, error.headers)

    @app.errorhandler(DomainError)
    def _domain_error(error: DomainError) -> Response:
        status = next(
            (code for kind, code in DOMAIN_STATUS.items() if isinstance(error, kind)), 400
        )
        return error_response(status, error.code, error.message)

    @app.errorhandler(ImageRejected)
    def _image_rejected(error: ImageRejected) -> Response:
        return error_response(error.status, error.code, f"image: {error.message}")

    @app.errorhandler(ValidationError)
    def _invalid(error: ValidationError) -> Response:
        return error_response(400, "invalid_request", validation_message(error))

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> Response:
        status = error.code or 500
        headers: dict[str, Any] = {}
        if status == 405 and error.valid_methods:  # type: ignore[attr-defined]
            headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]
        message = error.description or error.name
        if status == 404:
            message = "no such resource"
        return error_response(status, HTTP_CODES.get(status, "http_error"), message, headers)

    @app.errorhandler(DBAPIError)
    def _database_down(error: DBAPIError) -> Response:
        if not error.connection_invalidated and not _is_connection_error(error):
            return _unexpected(error)
        log.error("database unavailable: %s", error)
        return error_response(503, "database_unavailable",
                              "the database is unavailable; nothing was charged, try again")

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


def _is_connection_error(error: DBAPIError) -> bool:
    # psycopg2 raises OperationalError for refused/broken connections and InterfaceError for
    # a closed one; neither is the client's fault.
    return type(error.orig).__name__ in {"OperationalError", "InterfaceError"}
