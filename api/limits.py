"""Per-caller rate limits (Flask-Limiter on Redis): a `429` with `Retry-After`.

- Writes: ONE budget per user, `RATE_LIMIT_WRITES`, shared by every write route (DELETE
  included). Each write route carries `@write_budget`, a shared limit whose scope is the same
  name everywhere, so Flask-Limiter keeps one counter per user rather than one per route (which
  let a user spend the whole budget on each route in turn).
- Operators: every `/api/admin` route, `RATE_LIMIT_ADMIN` per operator (applied to the
  blueprint, so a new admin route is limited too); apart from their writes as a user.
- Status reads count in the same Redis round trip that serves them: see `api/status.py`.

Limits are counted per user id from the bearer token (per address for requests without a valid
one). If Redis is down the limits are not enforced rather than failing the request.
"""

from __future__ import annotations

from flask import Blueprint, Flask, request
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


def _writes() -> str:
    return get_settings().rate_limit_writes


def _admin() -> str:
    return get_settings().rate_limit_admin


write_budget = limiter.shared_limit(_writes, scope="writes")
_admin_budget = limiter.shared_limit(_admin, scope="admin")


def limit_admin_routes(blueprint: Blueprint) -> Blueprint:
    """Every route of the operators' blueprint counts against the operator's one budget."""
    _admin_budget(blueprint)
    return blueprint


def init_limits(app: Flask) -> None:
    settings = get_settings()
    app.config["RATELIMIT_ENABLED"] = settings.rate_limit_enabled
    app.config["RATELIMIT_STORAGE_URI"] = settings.redis_url
    app.config["RATELIMIT_STORAGE_OPTIONS"] = {"socket_connect_timeout": 1, "socket_timeout": 1}
    limiter.init_app(app)
