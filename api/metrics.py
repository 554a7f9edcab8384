"""`GET /metrics` for Prometheus (operators only), and the per-request counting of every route.

Requests are counted by the Flask URL rule that matched (`/api/headshots/<id:generation_id>`),
never by the raw path, so an id or a scanner's junk path cannot grow the label set; a request
that matched no rule (404, 405) counts as route `unmatched`.
"""

from __future__ import annotations

import functools
import time

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import Counter, Histogram

from api.auth import require_admin
from api.documented import Reply, documented
from services.metrics import HTTP_DURATION, HTTP_REQUESTS, exposition
from services.scrape_metrics import scrape_time_registry

UNMATCHED = "unmatched"

metrics = Blueprint("metrics", __name__)
metrics.before_request(require_admin)

PROMETHEUS_TEXT = {"text/plain": {"type": "string",
                                  "description": "Prometheus text exposition format 0.0.4"}}


@metrics.get("/metrics")
@documented(operation_id="getMetrics", summary="Prometheus metrics, for the operators' scraper",
            tag="operations", auth="admin",
            responses={200: Reply("the text format: requests, jobs, GetImg errors, credits, "
                                  "webhooks, queue depth", content=PROMETHEUS_TEXT)},
            description="Every gunicorn worker process's counts, summed; the Celery worker "
                        "serves its own on WORKER_METRICS_PORT (README: Metrics and alerts).")
def prometheus_metrics() -> Response:
    body, content_type = exposition(scrape_time_registry())
    return Response(body, content_type=content_type)


def _started() -> None:
    g.metrics_started = time.perf_counter()


def _answered(response: Response) -> Response:
    route = request.url_rule.rule if request.url_rule is not None else UNMATCHED
    method = request.method
    _requests(route, method, response.status_code).inc()
    started = g.get("metrics_started")
    if started is not None:
        _duration(route, method).observe(time.perf_counter() - started)
    return response


# Each series' child, looked up once per process: `labels()` validates the label values and
# takes the metric's lock on every call. The keys are bounded (a route's rule, a method, a
# status), as the labels are.
@functools.cache
def _requests(route: str, method: str, status: int) -> Counter:
    return HTTP_REQUESTS.labels(route, method, str(status))


@functools.cache
def _duration(route: str, method: str) -> Histogram:
    return HTTP_DURATION.labels(route, method)


def init_request_metrics(app: Flask) -> None:
    """First of the app's before_request hooks, so the time includes authentication."""
    app.before_request_funcs.setdefault(None, []).insert(0, _started)
    app.after_request(_answered)
