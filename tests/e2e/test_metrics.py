"""`/metrics`: operators only, Prometheus text, and the counters move when things happen, once:
in-process, across gunicorn's worker processes (multiprocess mode), and in the Celery worker."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from config import get_settings
from devstack.processes import REPO_ROOT
from devstack.waiting import wait_until
from fakes.getimg.process import FakeGetImg
from media.storage import new_key
from models.credits import grant_credits
from models.job.attempts import claim_job
from models.job.creation import create_job
from models.job.endings import fail_job
from models.styles import get_active_style
from models.uploads import record_upload
from models.users import ensure_user
from services.unit_of_work import unit_of_work
from tests.support.live import LiveServer
from tests.support.session import PORTS
from tests.support.users import ADMIN, auth, new_user_id

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def scrape_in_process(client: Any) -> Samples:
    response = client.get("/metrics", headers=ADMIN)
    assert response.status_code == 200, response.text
    return parse(response.get_data(as_text=True))


def test_metrics_are_for_operators_only(client: Any) -> None:
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=auth(new_user_id())).status_code == 403
    response = client.get("/metrics", headers=ADMIN)
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=0.0.4")
    samples = parse(response.get_data(as_text=True))
    assert value(samples, "headshots_scrape_source_up", source="redis") == 1
    assert value(samples, "headshots_scrape_source_up", source="postgres") == 1
    assert ("headshots_queue_depth", frozenset()) in samples
    assert ("headshots_oldest_queued_job_age_seconds", frozenset()) in samples
    assert ("headshots_webhook_backlog", frozenset()) in samples


def test_requests_are_counted_by_route_not_path(client: Any) -> None:
    before = scrape_in_process(client)
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    assert client.get("/no/such/path/12345").status_code == 404
    user = auth(new_user_id())
    assert client.get("/api/headshots/status/987654321", headers=user).status_code == 404
    after = scrape_in_process(client)

    def moved(route: str, status: str) -> float:
        labels = {"route": route, "method": "GET", "status": status}
        return (value(after, "headshots_http_requests_total", **labels)
                - value(before, "headshots_http_requests_total", **labels))

    assert moved("/healthz", "200") == 3
    assert moved("unmatched", "404") == 1
    assert moved("/api/headshots/status/<id:generation_id>", "404") == 1
    assert not any("12345" in str(labels) or "987654321" in str(labels)
                   for _, labels in after)


def _funded_queued_job(user_id: int) -> tuple[int, int]:
    """A committed queued corporate job of a user granted just enough: (job id, its cost)."""
    with unit_of_work() as db_session:
        ensure_user(db_session, user_id=user_id)
        style = get_active_style(db_session, "corporate")
        grant_credits(db_session, user_id=user_id, amount=style.credit_cost, reason="test")
        upload = record_upload(db_session, user_id=user_id,
                               storage_key=new_key("originals", user_id, "jpg"),
                               content_type="image/jpeg", size_bytes=1, width=64, height=64)
        job_id = create_job(db_session, user_id=user_id, upload=upload, style=style,
                                   aspect_ratio="1:1").id
        db_session.commit()
        return job_id, style.credit_cost


def test_a_committed_job_change_and_its_credits_are_counted_once(client: Any) -> None:
    before = scrape_in_process(client)
    job_id, cost = _funded_queued_job(new_user_id())
    with unit_of_work() as db_session:
        assert claim_job(db_session, job_id) is not None
        db_session.commit()
    with unit_of_work() as db_session:
        assert fail_job(db_session, job_id, code="getimg_timeout", message="x")
        db_session.commit()
    after = scrape_in_process(client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("headshots_jobs_created_total", style="corporate") == 1
    assert moved("headshots_jobs_finished_total", style="corporate", outcome="failed") == 1
    assert moved("headshots_job_failures_total", style="corporate", code="getimg_timeout") == 1
    assert moved("headshots_job_duration_seconds_count", style="corporate", outcome="failed") == 1
    assert moved("headshots_credits_total", movement="granted") == cost
    assert moved("headshots_credits_total", movement="charged") == cost
    assert moved("headshots_credits_total", movement="refunded") == cost


def test_rolled_back_credits_are_not_counted(client: Any) -> None:
    user_id = new_user_id()
    with unit_of_work() as db_session:
        ensure_user(db_session, user_id=user_id)
        db_session.commit()
    before = scrape_in_process(client)
    with unit_of_work() as db_session:
        grant_credits(db_session, user_id=user_id, amount=7, reason="rolled back")
        # not committed: the with block rolls it back
    with unit_of_work() as db_session:
        grant_credits(db_session, user_id=user_id, amount=2, reason="kept")
        db_session.commit()
    after = scrape_in_process(client)
    assert (value(after, "headshots_credits_total", movement="granted")
            - value(before, "headshots_credits_total", movement="granted")) == 2


# ---- real processes -------------------------------------------------------------------------


def _metrics_dir() -> Path:
    return REPO_ROOT / "var" / "run" / f"web-metrics-{PORTS['web']}"


def _healthz_counts_per_process() -> list[float]:
    """From each gunicorn worker's own file: how many /healthz 200s it counted."""
    counts = []
    for path in sorted(_metrics_dir().glob("counter_*.db")):
        samples = {(s.name, frozenset(s.labels.items())): s.value
                   for family in MultiProcessCollector.merge([str(path)], accumulate=False)
                   for s in family.samples}
        counts.append(value(samples, "headshots_http_requests_total", route="/healthz",
                            method="GET", status="200"))
    return counts


def test_gunicorn_workers_are_summed(web: str) -> None:
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ  # the tests' own process is plain

    def scrape() -> Samples:
        response = requests.get(web + "/metrics", headers=ADMIN, timeout=10)
        assert response.status_code == 200, response.text
        return parse(response.text)

    labels = {"route": "/healthz", "method": "GET", "status": "200"}
    start = value(scrape(), "headshots_http_requests_total", **labels)
    sent = 0
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(20):  # until both processes have answered some (at once, as a rule)
            statuses = list(pool.map(
                lambda _: requests.get(web + "/healthz", timeout=10).status_code, range(40)))
            assert statuses == [200] * 40
            sent += 40
            if sum(1 for count in _healthz_counts_per_process() if count > 0) >= 2:
                break
    per_process = _healthz_counts_per_process()
    assert sum(1 for count in per_process if count > 0) >= 2, per_process
    for _ in range(5):  # whichever process answers the scrape, it reports every process's
        assert value(scrape(), "headshots_http_requests_total", **labels) - start == sent


def test_worker_counts_jobs_and_getimg_errors(web: str, worker: Any,
                                              fake_getimg: FakeGetImg) -> None:
    worker_url = f"http://127.0.0.1:{PORTS['worker_metrics']}/metrics"

    def worker_samples() -> Samples:
        return parse(requests.get(worker_url, timeout=10).text)

    def web_samples() -> Samples:
        return parse(requests.get(web + "/metrics", headers=ADMIN, timeout=10).text)

    wait_until(lambda: value(web_samples(), "headshots_workers_alive") >= 1, timeout=30,
               message="the worker's heartbeat")
    shared = web_samples()  # the GetImg limit shared through Redis, as the scrape sees it
    limit = get_settings().getimg_max_concurrency
    assert 0 <= value(shared, "headshots_getimg_slots_in_use") <= limit
    assert value(shared, "headshots_getimg_paused_seconds") == 0
    # Tasks other tests queued run first, out of this test's way (the counts below are still
    # at-least: such a job may end while this one runs).
    wait_until(lambda: value(web_samples(), "headshots_queue_depth") == 0, timeout=60,
               message="the queue to drain")
    before = worker_samples()
    user = LiveServer(web).user(credits=10)
    completed = user.queue(style="corporate")
    assert user.wait_for_status(completed["id"])[0]["status"] == "completed"
    fake_getimg.configure(fail_rate=1.0, fail_status=402)  # every call: quota_exceeded
    failed = user.queue(style="creative")
    body = user.wait_for_status(failed["id"])[0]
    assert (body["status"], body["error"]["code"]) == ("failed", "getimg_quota_exceeded"), body

    def moved(samples: Samples, name: str, **labels: str) -> float:
        return value(samples, name, **labels) - value(before, name, **labels)

    def counted() -> bool:
        after = worker_samples()
        return (moved(after, "headshots_jobs_finished_total", style="corporate",
                      outcome="completed") >= 1
                and moved(after, "headshots_job_failures_total", style="creative",
                          code="getimg_quota_exceeded") >= 1
                and moved(after, "headshots_getimg_errors_total",
                          code="getimg_quota_exceeded") >= 1)

    wait_until(counted, timeout=10, message="the worker to count both jobs")
    after = worker_samples()
    assert moved(after, "headshots_job_duration_seconds_count", style="corporate",
                 outcome="completed") >= 1
    assert moved(after, "headshots_credits_total", movement="refunded") >= 1
    assert moved(after, "headshots_celery_tasks_total", task="headshots.generate",
                 state="SUCCESS") >= 2
    # The GetImg codes exist at 0 from the start (the alerts' increase() needs that).
    assert ("headshots_getimg_errors_total", frozenset({("code", "getimg_auth_failed")})) \
        in after
