"""The caller's push devices (§13): register (one row per address), list in /api/me (never the
token or keys), forget; the cap per user; and which endings write a push row for them, with
push on (this run's settings) and off (no provider set)."""

from __future__ import annotations

import base64
import logging
import os
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from config import get_settings, use_settings
from models.devices import MAX_DEVICES
from tests.support.domain import funded_user, make_job, stored_upload
from tests.support.users import auth, new_user_id

PUSH_SETTINGS = ("vapid_private_key", "vapid_subject", "fcm_credentials_file", "apns_key_file",
                 "apns_key_id", "apns_team_id", "apns_topic")


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def web_subscription(endpoint: str | None = None) -> dict[str, Any]:
    """A browser's subscription: an endpoint and well-formed keys (the point is not checked to
    be on the curve at registration; the sender's encryption would fail, and retry)."""
    endpoint = endpoint or f"https://fcm.googleapis.com/fcm/send/{secrets.token_urlsafe(24)}"
    return {"endpoint": endpoint,
            "keys": {"p256dh": b64url(b"\x04" + os.urandom(64)), "auth": b64url(os.urandom(16))}}


def register(client: Any, user_id: int, body: dict[str, Any]) -> Any:
    return client.post("/api/me/devices", headers=auth(user_id), json=body)


def devices_of(client: Any, user_id: int) -> list[dict[str, Any]]:
    me: dict[str, Any] = client.get("/api/me", headers=auth(user_id)).get_json()
    devices: list[dict[str, Any]] = me["devices"]
    return devices


def push_rows(user_id: int) -> list[Any]:
    from models.outbox import push_deliveries
    from services.unit_of_work import read_only

    with read_only() as db_session:
        return push_deliveries(db_session, user_id=user_id)


def test_a_device_registers_once_and_is_listed_without_its_secrets(client: Any) -> None:
    user_id = new_user_id()
    subscription = web_subscription()
    first = register(client, user_id, {"platform": "web", "subscription": subscription})
    assert first.status_code == 201
    device = first.get_json()
    assert set(device) == {"id", "platform", "createdAt"} and device["platform"] == "web"
    again = register(client, user_id, {"platform": "web", "subscription": subscription})
    assert again.status_code == 200 and again.get_json() == device, "the same device, once"
    ios = register(client, user_id, {"platform": "ios", "token": secrets.token_hex(32)})
    android = register(client, user_id, {"platform": "android",
                                         "token": secrets.token_urlsafe(120)})
    assert ios.status_code == android.status_code == 201
    listed = devices_of(client, user_id)
    assert [d["id"] for d in listed] == [device["id"], ios.get_json()["id"],
                                         android.get_json()["id"]]
    text = client.get("/api/me", headers=auth(user_id)).get_data(as_text=True)
    assert subscription["endpoint"] not in text and subscription["keys"]["auth"] not in text


def test_a_forgotten_device_is_gone_and_forgetting_it_again_is_404(client: Any) -> None:
    user_id = new_user_id()
    device = register(client, user_id, {"platform": "ios",
                                        "token": secrets.token_hex(32)}).get_json()
    assert client.delete(f"/api/me/devices/{device['id']}",
                         headers=auth(user_id)).status_code == 204
    assert devices_of(client, user_id) == []
    again = client.delete(f"/api/me/devices/{device['id']}", headers=auth(user_id))
    assert again.status_code == 404 and again.get_json()["error"]["code"] == "not_found"


def test_past_the_cap_the_device_seen_least_recently_is_forgotten(client: Any) -> None:
    user_id = new_user_id()
    tokens = [secrets.token_hex(32) for _ in range(MAX_DEVICES + 1)]
    ids = [register(client, user_id, {"platform": "ios", "token": token}).get_json()["id"]
           for token in tokens[:MAX_DEVICES]]
    # The first one comes back (seen again): the second is now the one seen least recently.
    assert register(client, user_id, {"platform": "ios", "token": tokens[0]}).status_code == 200
    newest = register(client, user_id, {"platform": "ios", "token": tokens[-1]})
    assert newest.status_code == 201
    listed = [d["id"] for d in devices_of(client, user_id)]
    assert len(listed) == MAX_DEVICES
    assert ids[1] not in listed and ids[0] in listed and newest.get_json()["id"] in listed


def test_an_address_registered_by_another_account_moves_to_it(client: Any) -> None:
    token = secrets.token_hex(32)
    before, after = new_user_id(), new_user_id()
    register(client, before, {"platform": "ios", "token": token})
    moved = register(client, after, {"platform": "ios", "token": token})
    assert moved.status_code == 201, "new to this account"
    assert devices_of(client, before) == []  # the phone no longer notifies who signed out
    assert [d["id"] for d in devices_of(client, after)] == [moved.get_json()["id"]]


def test_a_standalone_job_writes_one_push_row_per_device_in_its_ending(client: Any) -> None:
    user_id = funded_user(2)
    register(client, user_id, {"platform": "ios", "token": secrets.token_hex(32)})
    register(client, user_id, {"platform": "web", "subscription": web_subscription()})
    job = make_job(user_id, stored_upload(user_id), "completed")
    rows = push_rows(user_id)
    assert len(rows) == 2 and {row.generation_id for row in rows} == {job["id"]}
    assert {row.event_type for row in rows} == {"headshot.completed"}
    assert len({row.device_id for row in rows}) == 2
    assert len({row.message_id for row in rows}) == 2, "one message per device"


@pytest.fixture
def push_off() -> Iterator[None]:
    settings = get_settings()
    use_settings(settings.model_copy(update=dict.fromkeys(PUSH_SETTINGS)))
    yield
    use_settings(settings)


def test_with_no_provider_set_push_is_off_and_says_so(
        client: Any, push_off: None, caplog: pytest.LogCaptureFixture) -> None:
    from services import push
    from services.health import warn_about_configuration

    user_id = funded_user(2)
    register(client, user_id, {"platform": "ios", "token": secrets.token_hex(32)})
    make_job(user_id, stored_upload(user_id), "completed")
    assert push_rows(user_id) == [], "no row to deliver while push is off"
    assert push.due_events() == []
    with caplog.at_level(logging.INFO, logger="services.health"):
        warn_about_configuration("web")
    assert "push notifications off" in caplog.text


def test_the_run_logs_which_push_providers_are_on(caplog: pytest.LogCaptureFixture,
                                                  stack: dict[str, int]) -> None:
    from services.health import warn_about_configuration

    with caplog.at_level(logging.INFO, logger="services.health"):
        warn_about_configuration("worker")
    assert "push notifications on for android, ios, web" in caplog.text


def test_support_reads_a_users_devices_and_deliveries(client: Any) -> None:
    from models.devices import Device, list_devices
    from services.unit_of_work import read_only

    user_id = funded_user(1)
    register(client, user_id, {"platform": "android", "token": secrets.token_urlsafe(100)})
    make_job(user_id, stored_upload(user_id), "failed")
    with read_only() as db_session:
        devices = list_devices(db_session, user_id=user_id)
        assert [d.platform for d in devices] == ["android"]
        assert db_session.scalars(select(Device.id).where(Device.user_id == user_id)).all() \
            == [devices[0].id]
    [row] = push_rows(user_id)
    assert row.device_id == devices[0].id and row.event_type == "headshot.failed"


def test_a_push_pending_for_a_device_that_moved_accounts_is_not_sent(
        client: Any, push: Any) -> None:
    from services import push as push_service

    token = secrets.token_hex(32)
    before = funded_user(1)
    register(client, before, {"platform": "ios", "token": token})
    make_job(before, stored_upload(before), "completed")
    [row] = push_rows(before)
    register(client, new_user_id(), {"platform": "ios", "token": token})  # signed in anew
    attempt = push_service.deliver(row.id)
    assert not attempt.delivered and attempt.retry_in_seconds is None
    [ended] = push_rows(before)
    assert ended.gave_up_at is not None and "another account" in (ended.last_error or "")
    assert push.apns.deliveries.to(token) == []
