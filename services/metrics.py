"""The service's Prometheus metrics: each counted once, where it happens.

Every process counts into prometheus-client's metrics. The web process runs under gunicorn with
several worker processes, so there the values live in files under `PROMETHEUS_MULTIPROC_DIR`
(set by `config/gunicorn.py` before any worker imports prometheus-client) and `/metrics` sums
them; the Celery worker is one process and serves its own on `WORKER_METRICS_PORT`
(`workers/metrics.py`). Label values come from bounded sets only (a route's rule, a style, an
error code, an outcome), never from ids or raw paths.

What is read at scrape time instead (queue depth, the oldest queued job, the webhook backlog,
the workers' heartbeats) is `services/scrape_metrics.py`'s.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.multiprocess import MultiProcessCollector

from models.credits import EntryType, Movement
from models.job.changes import Change, JobChange

# No `_created` series beside each counter (only the worker's plain registry would have them):
# nothing here reads them, and they double the samples Prometheus stores.
disable_created_metrics()

# Seconds; a GetImg call usually takes ~20 s (GETIMG_EXPECTED_SECONDS), retries add minutes.
JOB_BUCKETS = (1, 2.5, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1200)

HTTP_REQUESTS = Counter(
    "headshots_http_requests", "HTTP requests answered, by route (the URL rule), method and status",
    ["route", "method", "status"])
HTTP_DURATION = Histogram(
    "headshots_http_request_duration_seconds",
    "Time to the response's headers (a stream's body is not included), by route and method",
    ["route", "method"])
JOBS_CREATED = Counter("headshots_jobs_created", "Headshot jobs created, by style", ["style"])
JOBS_FINISHED = Counter(
    "headshots_jobs_finished", "Headshot jobs that ended, by style and outcome "
    "(completed, failed, cancelled)", ["style", "outcome"])
JOB_FAILURES = Counter(
    "headshots_job_failures", "Headshot jobs that failed or were cancelled, by style and error "
    "code", ["style", "code"])
JOB_DURATION = Histogram(
    "headshots_job_duration_seconds", "From a job's first start to its end, by style and outcome "
    "(jobs that never started are not observed)", ["style", "outcome"], buckets=JOB_BUCKETS)
GETIMG_ERRORS = Counter(
    "headshots_getimg_errors", "GetImg errors per attempt (retried ones too), by code "
    "(workers/getimg_errors.py)", ["code"])
GETIMG_ABANDONED = Counter(
    "headshots_getimg_abandoned_calls", "GetImg calls a worker abandoned because their job was "
    "cancelled or taken away meanwhile (GetImg may bill them all the same)")
CREDITS = Counter(
    "headshots_credits", "Credits moved in committed ledger rows, by movement "
    "(charged, refunded, granted)", ["movement"])
WEBHOOK_DELIVERIES = Counter(
    "headshots_webhook_deliveries", "Webhook delivery attempts, by result "
    "(delivered, retrying, gave_up)", ["result"])
PUSH_DELIVERIES = Counter(
    "headshots_push_deliveries", "Push notification attempts, by result "
    "(delivered, retrying, gave_up, device_gone)", ["result"])

# Series that alerts watch with increase() exist from the start at 0: a series born at 1 would
# show no increase on its first scrape. (The worker does the same for its GetImg codes.)
for _result in ("delivered", "retrying", "gave_up"):
    WEBHOOK_DELIVERIES.labels(_result)
    PUSH_DELIVERIES.labels(_result)
PUSH_DELIVERIES.labels("device_gone")

ENDINGS = {Change.COMPLETED: "completed", Change.FAILED: "failed",
           Change.CANCELLED: "cancelled"}
MOVEMENTS = {EntryType.HEADSHOT: "charged", EntryType.REFUND: "refunded",
             EntryType.GRANT: "granted"}


def count_job_change(job_change: JobChange) -> None:
    """A committed change of a job (`services/after_commit.py`): each ending is counted by the
    one process whose transaction made it, so the sum over processes counts it once."""
    style = job_change.style or "unknown"
    if job_change.change is Change.CREATED:
        JOBS_CREATED.labels(style).inc()
        return
    outcome = ENDINGS.get(job_change.change)
    if outcome is None:
        return
    snapshot = job_change.snapshot
    JOBS_FINISHED.labels(style, outcome).inc()
    if outcome != "completed":
        JOB_FAILURES.labels(style, snapshot.error_code or "unknown").inc()
    if snapshot.started_at is not None:  # the snapshot's progress_at is the moment it ended
        JOB_DURATION.labels(style, outcome).observe(
            max(0.0, snapshot.progress_at - snapshot.started_at))


def count_movements(movements: Sequence[Movement]) -> None:
    """Committed ledger rows (a rolled-back charge never reaches here)."""
    for movement in movements:
        CREDITS.labels(MOVEMENTS[movement.entry_type]).inc(abs(movement.amount))


def exposition(*extra: CollectorRegistry) -> tuple[bytes, str]:
    """This process's metrics (under gunicorn: every worker process's, summed) and `extra`'s,
    in the Prometheus text format; the body and its content type."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    # Text format 0.0.4, which every Prometheus 2.x reads (the names here are plain ASCII, so
    # the body is the same as 1.0.0's).
    return b"".join(generate_latest(r) for r in (registry, *extra)), CONTENT_TYPE_PLAIN_0_0_4
