"""Per-user rate limits on the write routes (Flask-Limiter on Redis): a `429` with `Retry-After`.

(The status routes count their reads in the same Redis round trip that serves them: see
`api/status.py`.)

Limits are counted per user id from the bearer token (per address for requests without a valid
one). If Redis is down the limits are not enforced rather than failing the request.
"""

from __future__ import annotations

from flask import Flask, request
from flask_limiter import Limiter

from api.auth import request_principal
from api.errors import ApiError
from config import get_settings


def _caller() -> str:
    try:
        return f"user:{request_principal().user_id}"
    except ApiError:
        return f"address:{request.remote_addr}"


limiter = Limiter(
    key_func=_caller,
    headers_enabled=True,
    swallow_errors=True,
    strategy="fixed-window",  # one counter per request, like the status routes' own count
    key_prefix="headshots-limits",
)


def write_limit() -> str:
    return get_settings().rate_limit_writes


def export_limit() -> str:
    return get_settings().rate_limit_exports


def event_limit() -> str:
    """The app reports events as the user taps around: a budget of their own."""
    return get_settings().rate_limit_events


def init_limits(app: Flask) -> None:
    settings = get_settings()
    app.config["RATELIMIT_ENABLED"] = settings.rate_limit_enabled
    app.config["RATELIMIT_STORAGE_URI"] = settings.redis_url
    app.config["RATELIMIT_STORAGE_OPTIONS"] = {"socket_connect_timeout": 1, "socket_timeout": 1}
    limiter.init_app(app)
