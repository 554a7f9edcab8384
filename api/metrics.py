"""`GET /metrics` for Prometheus (operators only), and the per-request counting of every route.

Requests are counted by the Flask URL rule that matched (`/api/headshots/<id:generation_id>`),
never by the raw path, so an id or a scanner's junk path cannot grow the label set; a request
that matched no rule (404, 405) counts as route `unmatched`.
"""

from __future__ import annotations

import time

from flask import Blueprint, Flask, Response, g, request

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
    HTTP_REQUESTS.labels(route, request.method, str(response.status_code)).inc()
    started = g.get("metrics_started")
    if started is not None:
        HTTP_DURATION.labels(route, request.method).observe(time.perf_counter() - started)
    return response


def init_request_metrics(app: Flask) -> None:
    """First of the app's before_request hooks, so the time includes authentication."""
    app.before_request_funcs.setdefault(None, []).insert(0, _started)
    app.after_request(_answered)
