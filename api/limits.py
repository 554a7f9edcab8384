"""Per-caller rate limits (Flask-Limiter on Redis): a `429` with `Retry-After`.

- Writes: ONE budget per user, `RATE_LIMIT_WRITES`, shared by every write route (DELETE
  included). Each write route carries `@write_budget`, a shared limit whose scope is the same
  name everywhere, so Flask-Limiter keeps one counter per user rather than one per route (which
  let a user spend the whole budget on each route in turn).
- Operators: every `/api/admin` route, `RATE_LIMIT_ADMIN` per operator (applied to the
  blueprint, so a new admin route is limited too); apart from their writes as a user.
- Apart, each a budget of its own per user: behaviour events (`RATE_LIMIT_EVENTS`: the app
  reports them as the user taps around, and they must never use up the budget of the user's
  real actions) and exports (`RATE_LIMIT_EXPORTS`: each decodes and re-encodes a whole image).
- Status reads count in the same Redis round trip that serves them: see `api/status.py`.

Every answer of a budgeted route (the 429 too) tells the caller where it stands (§12):
`RateLimit-Limit` (the budget per window), `RateLimit-Remaining` (left after this request) and
`RateLimit-Reset` (seconds until the window ends), from the budget Flask-Limiter reports as the
request's most relevant one.

Limits are counted per user id from the bearer token (per address for requests without a valid
one). If Redis is down the limits are not enforced rather than failing the request.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, MutableMapping
from typing import Any

from flask import Blueprint, Flask, Response, request
from flask_limiter import Limiter, RateLimitExceeded
from werkzeug.datastructures import Headers

from api.auth import request_principal
from api.errors import ApiError, error_response
from config import get_settings

WINDOW_SECONDS = 60  # every budget is "N/minute"; the fallback when the window is unknown


def _caller() -> str:
    try:
        return f"user:{request_principal().user_id}"
    except ApiError:
        return f"address:{request.remote_addr}"


limiter = Limiter(
    key_func=_caller,
    # Off: Flask-Limiter's headers put `Retry-After` on every response, successful ones
    # included; a 429 gets it from `_limited` below, and nothing else does.
    headers_enabled=False,
    swallow_errors=True,
    strategy="fixed-window",  # one counter per request, like the status routes' own count
    key_prefix="headshots-limits",
)


# Blueprints no Flask-Limiter budget applies to: the status reads count in the one Redis round
# trip that serves them (api/status.py), the probes have no budget. Flask-Limiter's request
# hooks do not run for them at all (`init_limits`).
UNBUDGETED_BLUEPRINTS = frozenset({"status", "health"})


@limiter.request_filter
def _unbudgeted() -> bool:
    return request.blueprint in UNBUDGETED_BLUEPRINTS


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
    # Ours, registered before Flask-Limiter's so it is not wrapped below (it skips the
    # unbudgeted blueprints itself).
    app.after_request(_rate_limit_headers)
    hooks: tuple[dict[Any, list[Any]], ...] = (
        app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs)
    registered = [list(funcs.get(None, [])) for funcs in hooks]
    limiter.init_app(app)
    # Flask-Limiter registers its hooks for the whole app: each one it added skips the
    # unbudgeted blueprints (the request filter above stays, for its decorators' own checks).
    # How init_app registers them is Flask-Limiter's internal (docs/architecture.md, "Library
    # internals we rely on"), checked against each upgrade by
    # tests/unit/test_library_internals.py: should it register them elsewhere, they would
    # run for every request again, correct but slower.
    for funcs, before in zip(hooks, registered, strict=True):
        funcs[None] = [hook if hook in before else _where_budgeted(hook)
                       for hook in funcs.get(None, [])]
    app.register_error_handler(RateLimitExceeded, _limited)


def _where_budgeted(hook: Callable[..., Any]) -> Callable[..., Any]:
    """`hook` (a before-, after- or teardown-request function), run only for requests of a
    blueprint some budget may apply to; for the others it hands back what it was given (an
    after-request hook's response) or None."""

    @functools.wraps(hook)
    def run(*args: Any) -> Any:
        if request.blueprint in UNBUDGETED_BLUEPRINTS:
            return args[0] if args else None
        return hook(*args)

    return run


def rate_limit_headers(headers: MutableMapping[str, str] | Headers, *, limit: int,
                       remaining: int, reset_seconds: int) -> None:
    """Write a budget's standing: what every rate-limited answer carries (the status reads'
    budget, counted in api/status.py, writes the same three)."""
    headers["RateLimit-Limit"] = str(limit)
    headers["RateLimit-Remaining"] = str(max(0, remaining))
    headers["RateLimit-Reset"] = str(max(0, reset_seconds))


def _rate_limit_headers(response: Response) -> Response:
    if request.blueprint in UNBUDGETED_BLUEPRINTS:
        return response
    budget = limiter.current_limit  # None: no budget applied to this request
    if budget is None:
        return response
    try:  # the window's figures: one more Redis read, on budgeted routes only
        remaining, reset_at = budget.remaining, budget.reset_at
    except Exception:  # noqa: BLE001 - Redis gone: the limits are not enforced, say nothing
        return response
    # `reset_at` is rounded up a second past the window's end: no more than the window.
    reset = min(reset_at - int(time.time()), budget.limit.get_expiry())
    rate_limit_headers(response.headers, limit=budget.limit.amount, remaining=remaining,
                       reset_seconds=reset)
    return response


def _limited(error: RateLimitExceeded) -> Response:
    """The §3 429, with `Retry-After`: the seconds until the breached budget's window ends."""
    breached = limiter.current_limit
    try:
        wait = breached.reset_at - int(time.time()) if breached else WINDOW_SECONDS
    except Exception:  # noqa: BLE001 - Redis gone since the check: a safe upper bound
        wait = WINDOW_SECONDS
    return error_response(429, "rate_limited", f"rate limit exceeded: {error.description}",
                          {"Retry-After": str(min(max(wait, 1), WINDOW_SECONDS))})
