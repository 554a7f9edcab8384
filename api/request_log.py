"""One JSON log line per request (a successful status poll's at DEBUG), and the request id
that ties it to the jobs it starts.

The id is the client's `X-Request-Id` when it sent a sane one (config/logs.py), else a new one;
it is answered in the response's `X-Request-Id`, bound for every line logged while the request
runs, and carried into the worker with each task the request publishes.
"""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, g, request

from config.logs import bind_request_id, current_request_id, new_request_id

log = logging.getLogger("api.requests")

REQUEST_ID_HEADER = "X-Request-Id"


def init_request_log(app: Flask) -> None:
    """First of the app's before_request hooks: every later line of the request carries the id."""
    app.before_request_funcs.setdefault(None, []).insert(0, _arrived)
    app.after_request(_answered)
    app.teardown_request(_finished)


def _arrived() -> None:
    g.log_started = time.perf_counter()
    bind_request_id(new_request_id(request.headers.get(REQUEST_ID_HEADER)))


def _answered(response: Response) -> Response:
    request_id = current_request_id()
    if request_id is not None:
        response.headers[REQUEST_ID_HEADER] = request_id
    started = g.get("log_started")
    principal = g.get("principal")
    level = logging.DEBUG if _routine_request(response) else logging.INFO
    if not log.isEnabledFor(level):
        return response
    view_args = request.view_args or {}
    log.log(level, "%s %s %s", request.method, request.path, response.status_code, extra={
        "method": request.method,
        "route": request.url_rule.rule if request.url_rule is not None else None,
        "status": response.status_code,
        "duration_ms": round((time.perf_counter() - started) * 1000, 2) if started else None,
        "user_id": getattr(principal, "user_id", None),
        "generation_id": view_args.get("generation_id"),
    })
    return response


def _routine_request(response: Response) -> bool:
    """A status poll or a probe (/healthz, /readyz) answered 200: the app makes a poll every
    second or two for each job it shows, a load balancer probes every few seconds, and they
    change nothing. Their line is DEBUG (LOG_LEVEL=DEBUG shows them); the metrics count them
    all the same. Writing a line for each would be a large share of what a poll costs, for
    lines nobody reads. A refused one (a 404, a 429, a 503 probe) stays at INFO."""
    return request.endpoint in ROUTINE_ENDPOINTS and response.status_code == 200


ROUTINE_ENDPOINTS = frozenset({"status.poll", "health.healthz", "health.readyz"})


def _finished(error: BaseException | None) -> None:
    # gthread reuses the thread for the next request: no id may leak into it.
    bind_request_id(None)
