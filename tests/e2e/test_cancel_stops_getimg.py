"""A cancel stops the job's GetImg call (issue 21): the worker abandons the request, closing
its connection, and frees its slot at once, so the next queued job starts; the cancelled job
ends failed (`cancelled`), refunded once, with nothing stored.

Its own web and worker, on a Redis database of their own (the session's worker, on database 0,
must not take these jobs), with one GetImg slot across the workers and a GetImg that takes
20 s per image: a slot freed only when the call ended would keep the next job queued 20 s.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import cast

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis
from sqlalchemy import select

from config import get_settings
from devstack.processes import free_port, wait_for_web, wait_for_worker, web_service, worker_service
from devstack.waiting import wait_until
from fakes.getimg.process import FakeGetImg
from fakes.webhook_receiver import WebhookReceiver
from models.getimg_calls import GetImgCall
from services.getimg_slots import HOLDERS_KEY
from services.unit_of_work import read_only
from tests.support.domain import job_row
from tests.support.ledger import ledger_of_job
from tests.support.live import LiveServer
from tests.support.session import RUN_DIR

pytestmark = pytest.mark.usefixtures("ledger_invariant")

DATABASE = 2  # of the run's Redis: this module's alone
GETIMG_LATENCY_MS = 20_000
NEXT_JOB_STARTS_WITHIN_SECONDS = 3  # the acceptance, as a polling deadline


@pytest.fixture(scope="module")
def one_slot(stack: dict[str, int], getimg: FakeGetImg,
             webhooks: WebhookReceiver) -> Iterator[OneSlot]:
    """A web and a worker (two threads) sharing one GetImg slot."""
    redis_url = get_settings().redis_url.rsplit("/", 1)[0] + f"/{DATABASE}"
    port, metrics_port, log_dir = free_port(), free_port(), RUN_DIR / "one-slot"
    log_dir.mkdir(parents=True, exist_ok=True)
    base_url = f"http://127.0.0.1:{port}"
    inherited = {name: value for name, value in os.environ.items()
                 if name not in ("WORKER_METRICS_PORT", "PROMETHEUS_MULTIPROC_DIR")}
    env = {**inherited, "REDIS_URL": redis_url, "PUBLIC_BASE_URL": base_url,
           "GETIMG_MAX_CONCURRENCY": "1", "GETIMG_TIMEOUT_SECONDS": "60",
           # The renewal alone would notice the cancel up to 10 s late: only the cancel's
           # notice can start the next job within the deadline.
           "JOB_LEASE_SECONDS": "30", "JOB_LEASE_RENEW_SECONDS": "10"}
    web = web_service(port, log_dir, base_env=env, workers=1)
    worker = worker_service("one-slot-worker", log_dir, concurrency=2, base_env=env,
                            env={"WORKER_METRICS_PORT": str(metrics_port)})
    redis = Redis.from_url(redis_url)
    try:
        web.start()
        worker.start()
        wait_for_web(web, base_url, timeout=60)
        wait_for_worker(worker, timeout=60)
        yield OneSlot(LiveServer(base_url), redis,
                      f"http://127.0.0.1:{metrics_port}/metrics")
    finally:
        worker.stop()
        web.stop()
        redis.flushdb()
        redis.close()


@dataclass(frozen=True)
class OneSlot:
    server: LiveServer
    redis: Redis  # their database
    worker_metrics: str  # the worker's /metrics URL


def slots_in_use(redis: Redis) -> int:
    """GetImg slots held now (expired holders left out), as services/getimg_slots.py counts."""
    seconds, micros = cast(tuple[int, int], redis.time())
    return cast(int, redis.zcount(HOLDERS_KEY, seconds * 1000 + micros // 1000 + 1, "+inf"))


def getimg_calls_of(job_id: int) -> list[tuple[str, bool, Decimal, str]]:
    with read_only() as db_session:
        return [(row.outcome, row.billed, row.cost, row.cost_basis) for row in
                db_session.scalars(select(GetImgCall).where(GetImgCall.generation_id == job_id))]


def abandoned_calls(fake: FakeGetImg) -> int:
    """Generations whose client hung up before the answer, as the fake saw them."""
    return int(fake.stats()["by_outcome"].get("abandoned", 0))


def abandoned_by_the_worker(metrics_url: str) -> float:
    """The worker's count of the GetImg calls it abandoned."""
    text = requests.get(metrics_url, timeout=10).text
    return next(sample.value for family in text_string_to_metric_families(text)
                for sample in family.samples
                if sample.name == "headshots_getimg_abandoned_calls_total")


def test_a_cancel_stops_the_getimg_call_and_the_next_queued_job_starts(
        one_slot: OneSlot, fake_getimg: FakeGetImg) -> None:
    server, redis = one_slot.server, one_slot.redis
    fake_getimg.configure(latency_ms=GETIMG_LATENCY_MS)
    canceller, payer = server.user(credits=1), server.user(credits=1)

    job_a = canceller.queue()["id"]
    canceller.wait_for_status(job_a, ("processing",), timeout=30)
    wait_until(lambda: fake_getimg.stats()["in_flight"] == 1, timeout=15,
               message="job A's call to reach GetImg")
    job_b = payer.queue()["id"]
    assert payer.status(job_b).json()["status"] == "queued"  # the one slot is A's
    assert slots_in_use(redis) == 1

    answer = canceller.call("POST", f"/api/headshots/{job_a}/cancel")
    assert answer.status_code == 200, answer.text
    assert (answer.json()["status"], answer.json()["error"]["code"]) == ("failed", "cancelled")

    # A's call is abandoned and its slot freed: B starts long before A's 20 s would end.
    payer.wait_for_status(job_b, ("processing",), timeout=NEXT_JOB_STARTS_WITHIN_SECONDS)
    wait_until(lambda: abandoned_calls(fake_getimg) == 1, timeout=10,
               message="GetImg to see job A's connection close")
    wait_until(lambda: fake_getimg.stats()["in_flight"] == 1, timeout=10,
               message="job B's call to reach GetImg")
    assert slots_in_use(redis) == 1  # B's alone

    # A ended cancelled, refunded exactly once, and nothing was fetched or stored for it.
    item = canceller.call("GET", f"/api/headshots/history/{job_a}").json()
    assert (item["status"], item["error"]["code"], item["resultUrls"]) == \
        ("failed", "cancelled", []), item
    assert ledger_of_job(job_a) == [-1, 1]
    assert canceller.credits() == 1
    row = job_row(job_a)
    assert (row.result_keys, row.thumbnail_key) == ([], None)
    assert fake_getimg.stats()["downloads"] == 0
    # The abandoned call is on the operator's bill: in the call ledger, billed, at an assumed
    # price (GetImg never said one): the fake's $0.03 at 1K, invoiced or configured.
    wait_until(lambda: len(getimg_calls_of(job_a)) == 1, timeout=10,
               message="job A's abandoned call in the call ledger")
    assert getimg_calls_of(job_a) == [("abandoned", True, Decimal("0.0300"), "assumed")]

    # B's cancel stops its call too, and the slot comes back.
    assert payer.call("POST", f"/api/headshots/{job_b}/cancel").status_code == 200
    wait_until(lambda: slots_in_use(redis) == 0, timeout=10, message="every slot to be free")
    wait_until(lambda: abandoned_calls(fake_getimg) == 2, timeout=10,
               message="GetImg to see job B's connection close")
    assert ledger_of_job(job_b) == [-1, 1]
    assert payer.credits() == 1
    assert abandoned_by_the_worker(one_slot.worker_metrics) == 2
