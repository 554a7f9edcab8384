"""Push notifications end to end (§13): a real worker, the fake GetImg, and the fake Web Push
service, FCM and APNs on loopback, each checking what the real one checks (VAPID and the
aes128gcm payload, the OAuth2 grant and the message, the HTTP/2 request and its provider JWT)."""

from __future__ import annotations

import secrets
import time
from typing import Any

import pytest

from devstack.waiting import wait_until
from fakes.getimg.process import FakeGetImg
from services.flag_table import RECHECK_SECONDS
from tests.support.api_calls import generate, grant, uploaded_url
from tests.support.push import PushFakes
from tests.support.users import auth, new_user_id

pytestmark = pytest.mark.usefixtures("worker", "ledger_invariant")


def register_devices(client: Any, push: PushFakes, user_id: int) -> dict[str, str]:
    """A browser, an Android phone and an iPhone of the user; their addresses by provider."""
    subscription = push.webpush.subscribe()
    android = f"fcm-{secrets.token_urlsafe(40)}:APA91b{secrets.token_urlsafe(60)}"
    ios = secrets.token_hex(32)
    for body in ({"platform": "web", "subscription": subscription},
                 {"platform": "android", "token": android},
                 {"platform": "ios", "token": ios}):
        response = client.post("/api/me/devices", headers=auth(user_id), json=body)
        assert response.status_code == 201, response.get_json()
    return {"webpush": subscription["endpoint"], "fcm": android, "apns": ios}


def push_rows(user_id: int) -> list[Any]:
    from models.outbox import push_deliveries
    from services.unit_of_work import read_only

    with read_only() as db_session:
        return push_deliveries(db_session, user_id=user_id)


def ended(client: Any, user_id: int, job_id: int) -> bool:
    status = client.get(f"/api/headshots/status/{job_id}", headers=auth(user_id)).get_json()
    return bool(status["status"] in ("completed", "failed"))


def test_a_completed_headshot_reaches_each_device_once_though_each_provider_fails_first(
        client: Any, fake_getimg: FakeGetImg, push: PushFakes) -> None:
    for fake in push.all:
        fake.deliveries.failures_per_message = 1  # a 503 to the first attempt of each
    user_id = new_user_id()
    grant(client, user_id, 2)
    devices = register_devices(client, push, user_id)
    job_id = generate(client, user_id, uploaded_url(client, user_id)).get_json()["id"]

    def each_delivered() -> bool:
        rows = push_rows(user_id)
        return len(rows) == 3 and all(row.delivered_at is not None for row in rows)

    wait_until(each_delivered, timeout=60, interval=0.2,
               message="a push to each of the three devices")
    for fake in push.all:
        delivered = fake.deliveries.to(devices[fake.deliveries.provider])
        assert len(delivered) == 1, f"{fake.deliveries.provider}: {delivered}"
        notification = delivered[0].notification
        assert notification["type"] == "headshot.completed"
        assert str(notification["headshotId"]) == str(job_id)
        assert notification["url"] == f"/app/#/headshots/{job_id}"
        assert notification["title"] and notification["body"]
        assert fake.deliveries.attempts(notification["id"]) == 2, "a 503, then accepted"
        assert not fake.deliveries.refused, fake.deliveries.refused
    rows = push_rows(user_id)
    assert sorted(row.attempts for row in rows) == [2, 2, 2]
    assert {row.event_type for row in rows} == {"headshot.completed"}
    assert push.apns.http_versions == {"2"}
    assert push.fcm.tokens_issued >= 1


def test_a_batch_pushes_once_when_it_ends_not_once_per_style(
        client: Any, fake_getimg: FakeGetImg, push: PushFakes) -> None:
    user_id = new_user_id()
    grant(client, user_id, 3)
    devices = register_devices(client, push, user_id)
    url = uploaded_url(client, user_id)
    batch = client.post("/api/headshots/batch", headers=auth(user_id),
                        json={"imageUrl": url, "styles": ["corporate", "creative"]}).get_json()
    wait_until(lambda: len(push_rows(user_id)) == 3
               and all(row.delivered_at is not None for row in push_rows(user_id)),
               timeout=60, interval=0.2, message="the batch's pushes")
    for fake in push.all:
        [delivery] = fake.deliveries.to(devices[fake.deliveries.provider])
        assert delivery.notification["type"] == "batch.completed"
        assert delivery.notification["batchId"] == batch["batchId"]
        assert delivery.notification["url"] == f"/app/#/batches/{batch['batchId']}"
    assert all(ended(client, user_id, g["id"]) for g in batch["generations"])
    # One worker process: one provider JWT and one OAuth2 token, kept across deliveries.
    assert len(push.apns.provider_tokens) == 1
    assert push.fcm.tokens_issued == 1


def test_devices_the_providers_report_gone_are_forgotten_and_not_retried(
        client: Any, fake_getimg: FakeGetImg, push: PushFakes) -> None:
    user_id = new_user_id()
    grant(client, user_id, 2)
    devices = register_devices(client, push, user_id)
    for fake in push.all:  # the app removed, the permission revoked
        fake.deliveries.kill(devices[fake.deliveries.provider])
    fake_getimg.configure(script=["400"])  # and the job fails: a failed job is pushed too
    job_id = generate(client, user_id, uploaded_url(client, user_id)).get_json()["id"]
    wait_until(lambda: len(push_rows(user_id)) == 3
               and all(row.gave_up_at is not None for row in push_rows(user_id)),
               timeout=60, interval=0.2, message="the three deliveries to end")
    rows = push_rows(user_id)
    assert [row.attempts for row in rows] == [1, 1, 1], "a device gone is not tried again"
    assert {row.event_type for row in rows} == {"headshot.failed"}
    errors = sorted(row.last_error for row in rows)
    assert any("410" in error for error in errors)  # Web Push, APNs Unregistered
    assert any("UNREGISTERED" in error for error in errors)  # FCM
    me = client.get("/api/me", headers=auth(user_id)).get_json()
    assert me["devices"] == []
    for fake in push.all:
        assert fake.deliveries.to(devices[fake.deliveries.provider]) == []
    assert ended(client, user_id, job_id)


def test_a_user_the_push_flag_leaves_out_gets_no_notification(
        client: Any, fake_getimg: FakeGetImg, push: PushFakes) -> None:
    user_id, tester = new_user_id(), new_user_id()
    operator = auth(new_user_id(), role="admin")
    # On for one tester only: everybody else, this user included, is out of `push` (§14).
    flag = client.put("/api/admin/flags/push", headers=operator,
                      json={"enabled": True, "percentage": 0, "users": [tester]})
    assert flag.status_code == 200, flag.get_json()
    # A process follows a change within RECHECK_SECONDS (its copy of the table is that fresh):
    # the worker may have looked less than that ago, so wait it out before the job ends.
    time.sleep(2 * RECHECK_SECONDS)
    try:
        grant(client, user_id, 2)
        devices = register_devices(client, push, user_id)
        generate(client, user_id, uploaded_url(client, user_id))
        wait_until(lambda: len(push_rows(user_id)) == 3
                   and all(row.gave_up_at is not None for row in push_rows(user_id)),
                   timeout=60, interval=0.2, message="the three deliveries to end unsent")
        for row in push_rows(user_id):
            assert row.delivered_at is None
            assert "push feature is off" in (row.last_error or ""), row.last_error
        for fake in push.all:
            assert fake.deliveries.to(devices[fake.deliveries.provider]) == []
    finally:
        back = client.put("/api/admin/flags/push", headers=operator,
                          json={"enabled": True, "percentage": 100, "users": []})
        assert back.status_code == 200, back.get_json()
