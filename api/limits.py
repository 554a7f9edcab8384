"""Per-user rate limits (Flask-Limiter on Redis): a `429` with `Retry-After` past the limit.

Limits are counted per user id from the bearer token (per address for requests without a valid
one). If Redis is down the limits are not enforced rather than failing the request.
"""

from __future__ import annotations

from flask import Flask, request
from flask_limiter import Limiter

from api.auth import principal_from_header
from api.errors import ApiError
from config import get_settings


def _caller() -> str:
    try:
        return f"user:{principal_from_header(request.headers.get('Authorization')).user_id}"
    except ApiError:
        return f"address:{request.remote_addr}"


limiter = Limiter(
    key_func=_caller,
    headers_enabled=True,
    swallow_errors=True,
    strategy="moving-window",
    key_prefix="headshots-limits",
)


def write_limit() -> str:
    return get_settings().rate_limit_writes


def status_limit() -> str:
    return get_settings().rate_limit_status


def init_limits(app: Flask) -> None:
    settings = get_settings()
    app.config["RATELIMIT_ENABLED"] = settings.rate_limit_enabled
    app.config["RATELIMIT_STORAGE_URI"] = settings.redis_url
    app.config["RATELIMIT_STORAGE_OPTIONS"] = {"socket_connect_timeout": 1, "socket_timeout": 1}
    limiter.init_app(app)
