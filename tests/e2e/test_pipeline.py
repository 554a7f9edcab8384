"""The whole pipeline over real HTTP: gunicorn, a Celery worker, Redis, PostgreSQL, fake GetImg."""

from __future__ import annotations

import io
import json
from urllib.parse import urlsplit

import pytest
import requests
from PIL import Image

from fakes.getimg.process import FakeGetImg
from models.job.table import Job
from services.unit_of_work import unit_of_work
from tests.support.live import LiveServer
from workers.attempt import run_attempt

pytestmark = pytest.mark.usefixtures("worker", "ledger_invariant")


def _ratio(size: tuple[int, int]) -> float:
    return size[0] / size[1]


def test_happy_path_over_http(web: str, fake_getimg: FakeGetImg) -> None:
    user = LiveServer(web).user(credits=3)
    job = user.queue(style="corporate", aspect_ratio="3:4")
    assert job["status"] == "queued"

    status, polled = user.wait_for_status(job["id"])
    progress_seen = [progress for _, progress in polled]
    assert status["status"] == "completed", status
    assert status["progress"] == 100 and status["error"] is None
    assert progress_seen == sorted(progress_seen), "progress went down"
    assert status["queuePosition"] is None
    assert len(status["resultUrls"]) == 1 and status["thumbnailUrl"]

    item = user.call("GET", f"/api/headshots/history/{job['id']}").json()
    assert item["status"] == "completed" and item["completedAt"] and item["startedAt"]
    meta = item["metadata"]
    assert meta["attempts"] == 1 and meta["modelUsed"] == "seedream-5-lite"
    assert meta["getimgCost"] > 0 and meta["processingTime"] > 0 and "quality" not in meta
    # What GetImg was asked for, as sent; the times add up (§6).
    assert (meta["resolution"], meta["outputFormat"]) == ("1K", "jpeg")
    assert meta["queueTime"] >= 0
    assert meta["totalTime"] == pytest.approx(meta["queueTime"] + meta["processingTime"],
                                              abs=0.002)
    assert meta["getimgRequestId"].startswith("req-")
    history = user.call("GET", "/api/headshots/history").json()
    assert [h["id"] for h in history["data"]] == [job["id"]] and history["nextCursor"] is None

    result = requests.get(item["resultUrls"][0], timeout=10)
    assert result.status_code == 200 and result.headers["Content-Type"] == "image/jpeg"
    image = Image.open(io.BytesIO(result.content))
    assert abs(_ratio(image.size) - 3 / 4) < 0.01
    thumbnail = Image.open(io.BytesIO(requests.get(item["thumbnailUrl"], timeout=10).content))
    assert max(thumbnail.size) <= 320 and abs(_ratio(thumbnail.size) - 3 / 4) < 0.02
    assert user.credits() == 2
    assert user.call("GET", "/api/me").json()["totalHeadshotsGenerated"] == 1

    # The same job handed to a worker again does nothing: no GetImg call, no charge.
    calls = fake_getimg.stats()["generation_calls"]
    run_attempt(job["id"])
    assert fake_getimg.stats()["generation_calls"] == calls
    assert user.credits() == 2

    files = [urlsplit(url).path.removeprefix("/media/") for url in
             [*item["resultUrls"], item["thumbnailUrl"]]]
    from media import get_storage
    assert all(get_storage().exists(key) for key in files)
    assert user.call("DELETE", f"/api/headshots/history/{job['id']}").status_code == 204
    for path in (f"/api/headshots/history/{job['id']}", f"/api/headshots/status/{job['id']}"):
        assert user.call("GET", path).status_code == 404
    assert user.call("DELETE", f"/api/headshots/history/{job['id']}").status_code == 404
    assert not any(get_storage().exists(key) for key in files)
    assert requests.get(item["resultUrls"][0], timeout=10).status_code == 404
    assert user.call("GET", "/api/headshots/history").json()["data"] == []


def test_results_differ_per_style_and_aspect_ratio(web: str, fake_getimg: FakeGetImg) -> None:
    user = LiveServer(web).user(credits=10)
    sizes = {}
    pixels = {}
    for style, ratio in [("corporate", "1:1"), ("creative", "1:1"), ("corporate", "9:16")]:
        job = user.queue(style=style, aspect_ratio=ratio)
        status, _ = user.wait_for_status(job["id"])
        assert status["status"] == "completed"
        image = Image.open(io.BytesIO(requests.get(status["resultUrls"][0], timeout=10).content))
        sizes[(style, ratio)] = image.size
        pixels[(style, ratio)] = image.convert("RGB").resize((32, 32)).tobytes()
    assert abs(_ratio(sizes[("corporate", "9:16")]) - 9 / 16) < 0.01
    assert pixels[("corporate", "1:1")] != pixels[("creative", "1:1")]


def test_getimg_down_fails_the_job_and_refunds(web: str, fake_getimg: FakeGetImg) -> None:
    fake_getimg.configure(fail_rate=1.0, fail_status=503)
    user = LiveServer(web).user(credits=2)
    job = user.queue()
    status, polled = user.wait_for_status(job["id"])
    progress_seen = [progress for _, progress in polled]
    assert status["status"] == "failed"
    assert status["error"]["code"] == "getimg_unavailable" and status["error"]["message"]
    assert progress_seen == sorted(progress_seen), polled
    assert user.credits() == 2
    ledger = user.call("GET", "/api/credits/history").json()["data"]
    assert [(e["type"], e["amount"]) for e in ledger] == [
        ("refund", 1), ("headshot", -1), ("grant", 2)]
    item = user.call("GET", f"/api/headshots/history/{job['id']}").json()
    assert item["metadata"]["attempts"] == 3  # GETIMG_MAX_ATTEMPTS in the test settings
    assert fake_getimg.stats()["generation_calls"] == 3
    assert item["resultUrls"] == [] and item["completedAt"]


@pytest.mark.parametrize(("outcome", "code"), [("policy", "content_policy_violation"),
                                               ("quota", "getimg_quota_exceeded")])
def test_permanent_getimg_errors_fail_at_once(web: str, fake_getimg: FakeGetImg, outcome: str,
                                              code: str) -> None:
    fake_getimg.configure(script=[outcome])
    user = LiveServer(web).user(credits=1)
    status, _ = user.wait_for_status(user.queue()["id"])
    assert status["status"] == "failed" and status["error"]["code"] == code
    assert fake_getimg.stats()["generation_calls"] == 1
    assert user.credits() == 1


def test_a_transient_fault_is_retried_and_the_job_completes(web: str,
                                                            fake_getimg: FakeGetImg) -> None:
    fake_getimg.configure(script=["500", "garbage"])
    user = LiveServer(web).user(credits=1)
    job = user.queue()
    status, polled = user.wait_for_status(job["id"])
    progress_seen = [progress for _, progress in polled]
    assert status["status"] == "completed", status
    assert progress_seen == sorted(progress_seen)
    item = user.call("GET", f"/api/headshots/history/{job['id']}").json()
    assert item["metadata"]["attempts"] == 3
    assert user.credits() == 0


def test_getimg_rate_limits_delay_a_job_without_spending_its_attempts(
        web: str, fake_getimg: FakeGetImg) -> None:
    # More 429s in a row than GETIMG_MAX_ATTEMPTS (3 in the test settings), then a success.
    fake_getimg.configure(script=["429", "429", "429", "ok"], retry_after=1)
    user = LiveServer(web).user(credits=1)
    job = user.queue()
    status, _ = user.wait_for_status(job["id"])
    assert status["status"] == "completed", status
    assert fake_getimg.stats()["generation_calls"] == 4
    item = user.call("GET", f"/api/headshots/history/{job['id']}").json()
    assert item["metadata"]["attempts"] == 1  # the 429s were delays, not attempts
    with unit_of_work() as db_session:
        row = db_session.get(Job, int(job["id"]))
        assert row is not None and row.attempts == 4 and row.attempts_this_round == 1
    assert user.credits() == 0


def test_other_users_jobs_are_404_everywhere(web: str, fake_getimg: FakeGetImg) -> None:
    server = LiveServer(web)
    owner, stranger = server.user(credits=1), server.user()
    job = owner.queue()
    owner.wait_for_status(job["id"])
    for method, path in [("GET", f"/api/headshots/status/{job['id']}"),
                         ("GET", f"/api/headshots/history/{job['id']}"),
                         ("DELETE", f"/api/headshots/history/{job['id']}")]:
        response = stranger.call(method, path)
        assert response.status_code == 404, (method, path)
        assert response.json()["error"]["code"] == "not_found"
    assert stranger.call("GET", "/api/headshots/history").json()["data"] == []
    with unit_of_work() as db_session:
        row = db_session.get(Job, job["id"])
        assert row is not None and row.deleted_at is None


def test_status_stream_sends_each_change_and_closes_at_the_end(web: str,
                                                               fake_getimg: FakeGetImg) -> None:
    fake_getimg.configure(latency_ms=2500)
    user = LiveServer(web).user(credits=1)
    job = user.queue()
    response = user.call("GET", f"/api/headshots/status/{job['id']}/stream", stream=True)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    events = []
    for line in response.iter_lines(decode_unicode=True):
        if line.startswith("data: "):
            events.append(json.loads(line.removeprefix("data: ")))
    statuses = [event["status"] for event in events]
    assert statuses[-1] == "completed" and events[-1]["resultUrls"]
    # While GetImg works nothing is published, yet the estimate rises: the stream's ticks
    # rebuild a processing job's body (and only a processing job's).
    assert statuses.count("processing") >= 2, statuses
    progress = [event["progress"] for event in events]
    assert progress == sorted(progress) and len(set(progress)) == len(progress)
    assert user.call("GET", "/api/headshots/status/999999999/stream").status_code == 404
