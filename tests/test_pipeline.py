"""The whole pipeline over real HTTP: gunicorn, a Celery worker, Redis, PostgreSQL, fake GetImg."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from PIL import Image

from fakes.getimg.process import FakeGetImg
from models.db import unit_of_work
from models.generations import HeadshotGeneration
from tests.api_calls import SELFIE
from tests.conftest import ADMIN, auth, new_user_id
from tests.processes import wait_until
from workers.generation import run_attempt

pytestmark = pytest.mark.usefixtures("worker", "ledger_invariant")


class AppUser:
    """The mobile app, as one signed-in user."""

    def __init__(self, base: str, credits: int = 0) -> None:
        self.base = base
        self.user_id = new_user_id()
        self.http = requests.Session()
        self.http.headers.update(auth(self.user_id))
        if credits:
            response = requests.post(f"{base}/api/admin/users/{self.user_id}/credits",
                                     headers=ADMIN, json={"amount": credits, "reason": "test"})
            assert response.status_code == 201

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.http.request(method, self.base + path, timeout=30, **kwargs)

    def upload(self, path: Path = SELFIE) -> str:
        with path.open("rb") as image:
            response = self.call("POST", "/api/uploads", files={"image": image})
        assert response.status_code == 201, response.text
        return str(response.json()["imageUrl"])

    def generate(self, style: str = "corporate", aspect_ratio: str = "1:1") -> dict[str, Any]:
        response = self.call("POST", "/api/headshots/generate",
                             json={"imageUrl": self.upload(), "style": style,
                                   "aspectRatio": aspect_ratio})
        assert response.status_code == 202, response.text
        body: dict[str, Any] = response.json()
        return body

    def poll_until_finished(self, generation_id: int, timeout: float = 60) -> tuple[
            dict[str, Any], list[int]]:
        seen: list[int] = []
        self.polled: list[tuple[str, int]] = []

        def finished() -> dict[str, Any] | None:
            response = self.call("GET", f"/api/headshots/status/{generation_id}")
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            seen.append(body["progress"])
            self.polled.append((body["status"], body["progress"]))
            return body if body["status"] in ("completed", "failed") else None

        result = wait_until(finished, timeout=timeout, interval=0.1,
                            message=f"job {generation_id} to finish")
        assert isinstance(result, dict)
        return result, seen

    def credits(self) -> int:
        return int(self.call("GET", "/api/me").json()["credits"])


def _ratio(size: tuple[int, int]) -> float:
    return size[0] / size[1]


def test_happy_path_over_http(web: str, fake_getimg: FakeGetImg) -> None:
    user = AppUser(web, credits=3)
    job = user.generate(style="corporate", aspect_ratio="3:4")
    assert job["status"] == "queued"

    status, progress_seen = user.poll_until_finished(job["id"])
    assert status["status"] == "completed", status
    assert status["progress"] == 100 and status["error"] is None
    assert progress_seen == sorted(progress_seen), "progress went down"
    assert status["queuePosition"] is None
    assert len(status["resultUrls"]) == 1 and status["thumbnailUrl"]

    item = user.call("GET", f"/api/headshots/history/{job['id']}").json()
    assert item["status"] == "completed" and item["completedAt"] and item["startedAt"]
    meta = item["metadata"]
    assert meta["attempts"] == 1 and meta["modelUsed"] == "seedream-5-lite"
    assert meta["getimgCost"] > 0 and meta["processingTime"] > 0 and meta["quality"]
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
    from workers.media import get_storage
    assert all(get_storage().exists(key) for key in files)
    assert user.call("DELETE", f"/api/headshots/history/{job['id']}").status_code == 204
    for path in (f"/api/headshots/history/{job['id']}", f"/api/headshots/status/{job['id']}"):
        assert user.call("GET", path).status_code == 404
    assert user.call("DELETE", f"/api/headshots/history/{job['id']}").status_code == 404
    assert not any(get_storage().exists(key) for key in files)
    assert requests.get(item["resultUrls"][0], timeout=10).status_code == 404
    assert user.call("GET", "/api/headshots/history").json()["data"] == []


def test_results_differ_per_style_and_aspect_ratio(web: str, fake_getimg: FakeGetImg) -> None:
    user = AppUser(web, credits=10)
    sizes = {}
    pixels = {}
    for style, ratio in [("corporate", "1:1"), ("creative", "1:1"), ("corporate", "9:16")]:
        job = user.generate(style=style, aspect_ratio=ratio)
        status, _ = user.poll_until_finished(job["id"])
        assert status["status"] == "completed"
        image = Image.open(io.BytesIO(requests.get(status["resultUrls"][0], timeout=10).content))
        sizes[(style, ratio)] = image.size
        pixels[(style, ratio)] = image.convert("RGB").resize((32, 32)).tobytes()
    assert abs(_ratio(sizes[("corporate", "9:16")]) - 9 / 16) < 0.01
    assert pixels[("corporate", "1:1")] != pixels[("creative", "1:1")]


def test_getimg_down_fails_the_job_and_refunds(web: str, fake_getimg: FakeGetImg) -> None:
    fake_getimg.configure(fail_rate=1.0, fail_status=503)
    user = AppUser(web, credits=2)
    job = user.generate()
    status, progress_seen = user.poll_until_finished(job["id"])
    assert status["status"] == "failed"
    assert status["error"]["code"] == "getimg_unavailable" and status["error"]["message"]
    assert progress_seen == sorted(progress_seen), user.polled
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
    user = AppUser(web, credits=1)
    status, _ = user.poll_until_finished(user.generate()["id"])
    assert status["status"] == "failed" and status["error"]["code"] == code
    assert fake_getimg.stats()["generation_calls"] == 1
    assert user.credits() == 1


def test_a_transient_fault_is_retried_and_the_job_completes(web: str,
                                                            fake_getimg: FakeGetImg) -> None:
    fake_getimg.configure(script=["500", "garbage"])
    user = AppUser(web, credits=1)
    job = user.generate()
    status, progress_seen = user.poll_until_finished(job["id"])
    assert status["status"] == "completed", status
    assert progress_seen == sorted(progress_seen)
    item = user.call("GET", f"/api/headshots/history/{job['id']}").json()
    assert item["metadata"]["attempts"] == 3
    assert user.credits() == 0


def test_other_users_jobs_are_404_everywhere(web: str, fake_getimg: FakeGetImg) -> None:
    owner, stranger = AppUser(web, credits=1), AppUser(web)
    job = owner.generate()
    owner.poll_until_finished(job["id"])
    for method, path in [("GET", f"/api/headshots/status/{job['id']}"),
                         ("GET", f"/api/headshots/history/{job['id']}"),
                         ("DELETE", f"/api/headshots/history/{job['id']}")]:
        response = stranger.call(method, path)
        assert response.status_code == 404, (method, path)
        assert response.json()["error"]["code"] == "not_found"
    assert stranger.call("GET", "/api/headshots/history").json()["data"] == []
    with unit_of_work() as db_session:
        row = db_session.get(HeadshotGeneration, job["id"])
        assert row is not None and row.deleted_at is None


def test_status_stream_sends_each_change_and_closes_at_the_end(web: str,
                                                               fake_getimg: FakeGetImg) -> None:
    fake_getimg.configure(latency_ms=1500)
    user = AppUser(web, credits=1)
    job = user.generate()
    response = user.call("GET", f"/api/headshots/status/{job['id']}/stream", stream=True)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    events = []
    for line in response.iter_lines(decode_unicode=True):
        if line.startswith("data: "):
            events.append(json.loads(line.removeprefix("data: ")))
    statuses = [event["status"] for event in events]
    assert statuses[-1] == "completed" and events[-1]["resultUrls"]
    assert "processing" in statuses
    progress = [event["progress"] for event in events]
    assert progress == sorted(progress) and len(set(progress)) == len(progress)
    assert user.call("GET", "/api/headshots/status/999999999/stream").status_code == 404
