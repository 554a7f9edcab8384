"""Push's rules that need no service: which settings turn a provider on (and which half-set ones
refuse to start), the notification each ending sends, and the providers' message shapes."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from config import Settings
from models.outbox import EventType, OutboxEvent

OFF: dict[str, Any] = {"vapid_private_key": None, "vapid_subject": None,
                       "fcm_credentials_file": None, "apns_key_file": None, "apns_key_id": None,
                       "apns_team_id": None, "apns_topic": None}


def settings(**given: Any) -> Settings:
    return Settings(_env_file=None, **{**OFF, **given})  # type: ignore[call-arg]


def test_each_provider_is_on_when_its_settings_are_set() -> None:
    assert settings().push_platforms == frozenset()
    assert settings(vapid_private_key="k", vapid_subject="mailto:a@b.c").push_platforms == {"web"}
    assert settings(fcm_credentials_file=Path("sa.json")).push_platforms == {"android"}
    assert settings(apns_key_file=Path("k.p8"), apns_key_id="K", apns_team_id="T",
                    apns_topic="ai.app").push_platforms == {"ios"}


@pytest.mark.parametrize(("given", "named"), [
    ({"vapid_private_key": "k"}, "VAPID_SUBJECT"),
    ({"vapid_subject": "mailto:a@b.c"}, "VAPID_PRIVATE_KEY"),
    ({"apns_key_file": Path("k.p8"), "apns_key_id": "K"}, "APNS_TEAM_ID"),
    ({"apns_topic": "ai.app"}, "APNS_KEY_FILE"),
    ({"vapid_private_key": "k", "vapid_subject": "ops@example.com"}, "VAPID_SUBJECT"),
])
def test_half_a_providers_settings_refuses_to_start(given: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        settings(**given)


def event(event_type: EventType, **ids: Any) -> OutboxEvent:
    return OutboxEvent(message_id=f"msg_{uuid.uuid4().hex}", event_type=event_type.value,
                       user_id=1, **ids)


def test_a_notification_names_what_ended_and_where_it_opens() -> None:
    from services.push import notification

    job = notification(event(EventType.HEADSHOT_FAILED, generation_id=42))
    assert job["headshotId"] == 42 and job["url"] == "/app/#/headshots/42"
    assert job["type"] == "headshot.failed" and "refunded" in job["body"]
    batch_id = uuid.uuid4()
    batch = notification(event(EventType.BATCH_PARTIAL, batch_id=batch_id))
    assert batch["batchId"] == str(batch_id) and batch["url"] == f"/app/#/batches/{batch_id}"
    assert "headshotId" not in batch
    for kind in EventType:  # every ending has its texts
        shown = notification(event(kind, generation_id=1))
        assert shown["title"] and shown["body"]


def test_the_providers_shapes_carry_the_same_notification() -> None:
    from services.push import notification
    from workers.push import apns, fcm

    shown = notification(event(EventType.HEADSHOT_COMPLETED, generation_id=7))
    message = fcm.message("token", shown)["message"]
    assert message["notification"] == {"title": shown["title"], "body": shown["body"]}
    assert message["data"]["headshotId"] == "7" and message["data"]["id"] == shown["id"]
    assert all(isinstance(value, str) for value in message["data"].values())
    body = apns.body(shown)
    assert body["aps"]["alert"] == {"title": shown["title"], "body": shown["body"]}
    assert body["headshotId"] == 7 and body["url"] == shown["url"]


@pytest.mark.parametrize(("endpoint", "allowed"), [
    ("https://fcm.googleapis.com/fcm/send/abc", True),
    ("https://web.push.apple.com/QGx", True),
    ("https://fcm.googleapis.com:443/fcm/send/abc", True),
    ("http://fcm.googleapis.com/fcm/send/abc", False),
    ("https://127.0.0.1/x", False),
    ("https://[::1]/x", False),
    ("http://localhost:8080/x", False),
    ("https://push/x", False),
    ("https://printer.local/x", False),
])
def test_endpoints_are_public_push_services(endpoint: str, allowed: bool) -> None:
    from models.devices import endpoint_problem

    assert (endpoint_problem(endpoint, allow_loopback=False) is None) is allowed
    assert endpoint_problem("http://127.0.0.1:9/x", allow_loopback=True) is None
