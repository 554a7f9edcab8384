"""CORS for the browser origins of CORS_ORIGINS (§12): they may call /api from a page.

A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) from one of them is
answered here, before the token check and the rate limits: a browser never sends a token with
it. Every /api answer to one of them, errors included, says which response headers its script
may read. A request from any other origin gets no CORS header at all, so the browser keeps
the answer from the page; a preflight from one goes on as any request would (and is refused).

Flask-CORS only adds headers to whatever the app answers, which for a preflight is the
blueprints' 401 (they check the token first), and it sends `Vary: Origin` only when several
origins are configured; hence these two hooks.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, request

from config import get_settings

API_PREFIX = "/api/"
ALLOWED_HEADERS = ("Authorization", "Content-Type", "Idempotency-Key", "If-None-Match",
                   "Last-Event-ID", "X-Request-Id")
EXPOSED_HEADERS = ("Location", "ETag", "Retry-After", "RateLimit-Limit", "RateLimit-Remaining",
                   "RateLimit-Reset", "RateLimit-Policy", "Content-Disposition", "Content-Range",
                   "WWW-Authenticate", "X-Request-Id")
# How long a browser may reuse a preflight's answer (Chromium caps it at two hours).
PREFLIGHT_MAX_AGE_SECONDS = 600


def _allowed_origin() -> str | None:
    """The request's `Origin` when it is one of CORS_ORIGINS and the path is the API's."""
    origin = request.headers.get("Origin")
    if origin is None or not request.path.startswith(API_PREFIX):
        return None
    return origin if origin in get_settings().allowed_cors_origins else None


def _answer_preflight() -> Response | None:
    """`before_request`: a preflight from an allowed origin, to a path the API has, is answered
    204 here; anything else goes on."""
    if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers \
            or request.url_rule is None or _allowed_origin() is None:
        return None
    # Flask's own answer to OPTIONS knows every method the path answers (its `Allow`).
    response = current_app.make_default_options_response()
    response.status_code = 204
    response.headers["Access-Control-Allow-Methods"] = ", ".join(sorted(response.allow))
    response.headers["Access-Control-Allow-Headers"] = ", ".join(ALLOWED_HEADERS)
    response.headers["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE_SECONDS)
    return response


def _label(response: Response) -> Response:
    """`after_request`: the CORS headers of an allowed origin's answer."""
    if not get_settings().allowed_cors_origins or not request.path.startswith(API_PREFIX):
        return response
    # The answer depends on the Origin: a cache must not hand one origin's to another.
    response.vary.add("Origin")
    origin = _allowed_origin()
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = ", ".join(EXPOSED_HEADERS)
    return response


def init_cors(app: Flask) -> None:
    """Register the hooks; before the rate limits' own, so a preflight spends no budget."""
    app.before_request(_answer_preflight)
    app.after_request(_label)
