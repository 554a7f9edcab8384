"""The library with a real worker and the fake GetImg: completion webhooks end to end (signed,
retried, each event delivered), and a cancel that lands while the worker is busy."""

from __future__ import annotations

from typing import Any

import pytest

from devstack.processes import Service
from devstack.waiting import wait_until
from fakes.getimg.process import FakeGetImg
from fakes.webhook_receiver import WebhookReceiver
from media import get_storage
from tests.support.api_calls import generate, grant, me, uploaded_url
from tests.support.users import auth, new_user_id

pytestmark = pytest.mark.usefixtures("worker", "ledger_invariant")


def status_of(client: Any, user_id: int, job_id: int) -> dict[str, Any]:
    response = client.get(f"/api/headshots/status/{job_id}", headers=auth(user_id))
    assert response.status_code == 200
    body: dict[str, Any] = response.get_json()
    return body


def events_for(webhooks: WebhookReceiver, user_id: int) -> dict[str, dict[str, Any]]:
    return {message_id: payload for message_id, payload in webhooks.delivered().items()
            if payload["data"]["userId"] == user_id}


def test_every_job_and_batch_that_ends_sends_one_signed_webhook(
        client: Any, fake_getimg: FakeGetImg, webhooks: WebhookReceiver) -> None:
    webhooks.failures_per_message = 2  # the main app answers 500 twice to each event
    user_id = new_user_id()
    grant(client, user_id, 5)
    url = uploaded_url(client, user_id)
    batch = client.post("/api/headshots/batch", headers=auth(user_id),
                        json={"imageUrl": url, "styles": ["corporate", "creative"]}).get_json()

    def ended(*jobs: int) -> bool:
        return all(status_of(client, user_id, job)["status"] in ("completed", "failed")
                   for job in jobs)

    wait_until(lambda: ended(*(g["id"] for g in batch["generations"])), timeout=60,
               interval=0.2, message="the batch to end")
    fake_getimg.configure(script=["400"])  # GetImg refuses the next one
    single = generate(client, user_id, url).get_json()["id"]
    wait_until(lambda: ended(single), timeout=60, interval=0.2, message="the job to end")
    wait_until(lambda: len(events_for(webhooks, user_id)) == 4, timeout=60, interval=0.2,
               message="four webhooks to be delivered")
    events = events_for(webhooks, user_id)
    kinds = sorted(payload["type"] for payload in events.values())
    assert kinds == ["batch.completed", "headshot.completed", "headshot.completed",
                     "headshot.failed"]
    for message_id, payload in events.items():
        assert webhooks.attempts[message_id] == 3, "two 500s, then delivered; same webhook-id"
        assert payload["timestamp"]
    batch_event = next(p for p in events.values() if p["type"] == "batch.completed")
    assert batch_event["data"]["batch"]["batchId"] == batch["batchId"]
    assert batch_event["data"]["batch"]["status"] == "completed"
    failed = next(p for p in events.values() if p["type"] == "headshot.failed")
    assert failed["data"]["headshot"]["id"] == single
    assert failed["data"]["headshot"]["status"] == "failed"
    assert webhooks.rejected_signatures == 0 and webhooks.duplicates == 0
    assert me(client, user_id)["credits"] == 5 - 2 - 1 + 1  # the failed one refunded


def test_a_cancel_while_the_worker_waits_on_getimg_leaves_nothing_behind(
        client: Any, fake_getimg: FakeGetImg, webhooks: WebhookReceiver,
        worker: Service) -> None:
    webhooks.failures_per_message = 0
    fake_getimg.configure(latency_ms=1500)
    user_id = new_user_id()
    grant(client, user_id, 1)
    job = generate(client, user_id, uploaded_url(client, user_id)).get_json()["id"]
    wait_until(lambda: status_of(client, user_id, job)["status"] == "processing", timeout=30,
               message="the worker to take the job")
    cancelled = client.post(f"/api/headshots/{job}/cancel", headers=auth(user_id))
    assert cancelled.status_code == 200
    assert cancelled.get_json()["error"]["code"] == "cancelled"
    assert me(client, user_id)["credits"] == 1
    wait_until(lambda: f"job {job}: no longer this attempt's" in worker.log_tail(200_000),
               timeout=30, message="the worker to notice the cancel")
    final = status_of(client, user_id, job)
    assert (final["status"], final["error"]["code"]) == ("failed", "cancelled")
    assert final["resultUrls"] == [] and final["thumbnailUrl"] is None
    for kind in ("results", "thumbnails"):
        assert not get_storage().keys(f"{kind}/{user_id}/"), kind
    assert me(client, user_id)["credits"] == 1  # refunded once, never charged twice
    wait_until(lambda: [p["type"] for p in events_for(webhooks, user_id).values()]
               == ["headshot.cancelled"], timeout=30, message="the cancelled webhook")
