"""The metrics read when Prometheus scrapes `/metrics`, not counted as things happen: the
Redis queue's depth, how long the oldest queued job has waited, the webhook backlog, the live
workers, the GetImg slots in use and GetImg's pause.

Each source is asked on its own; one that does not answer leaves its metrics out and says so in
`headshots_scrape_source_up{source}` (0), so a Redis outage does not also cost the metrics
from PostgreSQL, or the scrape itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from models.clock import utcnow
from models.job.table import oldest_queued_since
from models.outbox import pending_backlog
from services import getimg_slots, worker_heartbeat
from services.redis_client import get_redis
from services.unit_of_work import read_only

log = logging.getLogger(__name__)

GENERATION_QUEUE = "headshots"  # the Celery queue (celeryconfig.task_routes): a Redis list


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _from_redis() -> list[GaugeMetricFamily]:
    depth = int(get_redis().llen(GENERATION_QUEUE))  # type: ignore[arg-type]  # sync client
    return [
        _gauge("headshots_queue_depth", "Generation tasks waiting in the Redis queue "
               "(not counting retries scheduled for later)", float(depth)),
        _gauge("headshots_workers_alive", "Celery workers whose heartbeat is fresh",
               float(worker_heartbeat.alive_count())),
        _gauge("headshots_getimg_slots_in_use", "GetImg calls in flight across every worker "
               "(at most GETIMG_MAX_CONCURRENCY)", float(getimg_slots.holders_now())),
        _gauge("headshots_getimg_paused_seconds", "What is left of the pause GetImg asked for "
               "(429 Retry-After, a spent rate window); 0 when none", getimg_slots.paused_for()),
    ]


def _from_postgres() -> list[GaugeMetricFamily]:
    now = utcnow()
    with read_only() as db_session:
        queued_since = oldest_queued_since(db_session)
        backlog, oldest_event = pending_backlog(db_session)
    return [
        _gauge("headshots_oldest_queued_job_age_seconds", "How long the job waiting longest "
               "has been queued (0 when none waits)",
               (now - queued_since).total_seconds() if queued_since else 0.0),
        _gauge("headshots_webhook_backlog", "Webhook events neither delivered nor given up on",
               float(backlog)),
        _gauge("headshots_webhook_oldest_pending_age_seconds", "Age of the oldest undelivered "
               "webhook event (0 when none)",
               (now - oldest_event).total_seconds() if oldest_event else 0.0),
    ]


SOURCES: dict[str, Callable[[], list[GaugeMetricFamily]]] = {
    "redis": _from_redis, "postgres": _from_postgres,
}


class ScrapeTimeCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("headshots_scrape_source_up", "Whether the source of the "
                               "scrape-time metrics answered (1) or not (0)", labels=["source"])
        for source, read in SOURCES.items():
            try:
                families = read()
            except Exception:  # any failure of a source: its metrics are left out, not faked
                log.warning("metrics: %s did not answer", source, exc_info=True)
                up.add_metric([source], 0.0)
                continue
            up.add_metric([source], 1.0)
            yield from families
        yield up


def scrape_time_registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ScrapeTimeCollector())
    return registry
