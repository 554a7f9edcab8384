"""Push's rules that need no service: which settings turn a provider on (and which half-set ones
refuse to start), the notification each ending sends, and the providers' message shapes."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import ValidationError

from config import Settings
from fakes.push.credentials import b64url, vapid_keys
from models.outbox import EventType, OutboxEvent

OFF: dict[str, Any] = {"vapid_private_key": None, "vapid_subject": None,
                       "fcm_credentials_file": None, "apns_key_file": None, "apns_key_id": None,
                       "apns_team_id": None, "apns_topic": None}


def settings(**given: Any) -> Settings:
    return Settings(_env_file=None, **{**OFF, **given})  # type: ignore[call-arg]


def test_each_provider_is_on_when_its_settings_are_set() -> None:
    assert settings().push_platforms == frozenset()
    assert settings(vapid_private_key=vapid_keys().private,
                    vapid_subject="mailto:a@b.c").push_platforms == {"web"}
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


def test_the_vapid_public_key_is_the_private_ones_as_browsers_take_it() -> None:
    keys = vapid_keys()
    assert settings(vapid_private_key=keys.private,
                    vapid_subject="mailto:a@b.c").vapid_public_key == keys.public
    assert settings().vapid_public_key is None
    # A DER private key (py_vapid reads both, as pywebpush does to sign) gives the same point.
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    point = key.public_key().public_bytes(serialization.Encoding.X962,
                                          serialization.PublicFormat.UncompressedPoint)
    assert settings(vapid_private_key=b64url(der),
                    vapid_subject="mailto:a@b.c").vapid_public_key == b64url(point)


@pytest.mark.parametrize("key", [
    "xxxxx",  # not base64url of anything
    b64url(b"\0" * 32),  # the zero scalar: no key
    b64url(b"\xff" * 32),  # past the curve's order
    b64url(b"not a DER key, nor 32 bytes"),
    b64url(ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())),  # another curve: browsers take P-256 only
])
def test_a_vapid_key_that_cannot_sign_refuses_to_start(key: str) -> None:
    with pytest.raises(ValidationError, match="VAPID_PRIVATE_KEY") as refused:
        settings(vapid_private_key=key, vapid_subject="mailto:a@b.c")
    assert key not in refused.value.errors()[0]["msg"]  # a secret: the reason only


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
