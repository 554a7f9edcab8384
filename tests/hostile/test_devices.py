"""The push device routes (§13) as an attacker (or a broken app) uses them: malformed and
dangerous subscriptions and tokens, oversized bodies, another user's device ids, the same
registration replayed concurrently, and a flood of registrations. Each refusal is the §3 error
and changes nothing."""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from config import get_settings, use_settings
from models.devices import MAX_DEVICES
from tests.support.errors import assert_error
from tests.support.hostile import assert_unchanged, footprint, send, tried
from tests.support.users import auth, new_user_id

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


KEYS = {"p256dh": b64url(b"\x04" + os.urandom(64)), "auth": b64url(os.urandom(16))}
PUSH_SERVICE = "https://updates.push.services.mozilla.com/wpush/v2/"


def web(endpoint: str = PUSH_SERVICE + "abc", **keys: Any) -> dict[str, Any]:
    return {"platform": "web", "subscription": {"endpoint": endpoint, "keys": {**KEYS, **keys}}}


# (body, the field the 400 must name)
BAD_BODIES: list[tuple[Any, str]] = [
    ({}, "platform"),
    ({"platform": "blackberry", "token": "ab" * 32}, "platform"),
    ({"platform": None, "token": "ab" * 32}, "platform"),
    ({"platform": "web"}, "subscription"),
    ({"platform": "web", "subscription": "https://push.example/x"}, "subscription"),
    ({**web(), "token": "ab" * 32}, "token"),
    ({"platform": "ios"}, "token"),
    ({"platform": "android", "subscription": web()["subscription"]}, "subscription"),
    ({"platform": "android", "token": "ab" * 32, "subscription": web()["subscription"]},
     "subscription"),
    ({"platform": "ios", "token": "not-hex-at-all-" * 5}, "token"),
    ({"platform": "ios", "token": "ab" * 31}, "token"),  # 31 bytes
    ({"platform": "ios", "token": "ab" * 1000}, "token"),  # 2000 characters
    ({"platform": "ios", "token": 1234}, "token"),
    ({"platform": "android", "token": "../../v1/projects/other/messages:send"}, "token"),
    ({"platform": "android", "token": "short"}, "token"),
    ({"platform": "android", "token": "a" * 1025}, "token"),
    ({"platform": "android", "token": "abc\x00" * 10}, "token"),
    (web("http://updates.push.services.mozilla.com/wpush/v2/x"), "endpoint"),
    (web("https://10.0.0.7/push/x"), "endpoint"),
    (web("https://169.254.169.254/latest/meta-data"), "endpoint"),
    (web("https://[fd00::1]/x"), "endpoint"),
    (web("https://user:pw@fcm.googleapis.com/fcm/send/x"), "endpoint"),
    (web("https://fcm.googleapis.com:8443/fcm/send/x"), "endpoint"),
    (web("https://fcm.googleapis.com:notaport/x"), "endpoint"),
    (web("https://metadata.google.internal/computeMetadata"), "endpoint"),
    (web("https://redis/x"), "endpoint"),
    (web("file:///etc/passwd"), "endpoint"),
    (web("javascript:alert(1)"), "endpoint"),
    (web(PUSH_SERVICE + "x" * 3000), "endpoint"),
    (web(p256dh="!!!not base64!!!"), "p256dh"),
    (web(p256dh=b64url(b"\x04" + os.urandom(32))), "p256dh"),  # too short
    (web(p256dh=b64url(b"\x02" + os.urandom(64))), "p256dh"),  # not uncompressed
    (web(auth=b64url(os.urandom(8))), "auth"),
    (web(auth="a" * 51), "auth"),
    ({"platform": "web", "subscription": {"endpoint": PUSH_SERVICE + "x"}}, "keys"),
]


def device_count(user_id: int) -> int:
    from models.devices import list_devices
    from services.unit_of_work import read_only

    with read_only() as db_session:
        return len(list_devices(db_session, user_id=user_id))


@pytest.mark.parametrize(("body", "field"), BAD_BODIES,
                         ids=[f"{i}-{field}" for i, (_, field) in enumerate(BAD_BODIES)])
def test_a_bad_registration_is_a_400_naming_the_field_and_registers_nothing(
        client: Any, body: Any, field: str) -> None:
    user_id = new_user_id()
    before = footprint(user_id, media=False)
    response = send(client, "POST", "/api/me/devices", theme="devices", headers=auth(user_id),
                    json=body)
    assert_error(response, 400, "invalid_request", field, context=body)
    assert device_count(user_id) == 0
    assert_unchanged(before, footprint(user_id, media=False), body)


def test_not_json_and_oversized_bodies_are_refused(client: Any) -> None:
    user_id = new_user_id()
    for data, content_type, status in (
            (b"platform=web", "application/x-www-form-urlencoded", 400),
            (b'{"platform": "ios", "platform": "web"}', "application/json", 400),
            (b"[]", "application/json", 400),
            (b'{"platform": "ios", "token": "' + b"a" * 20_000 + b'"}', "application/json", 413)):
        response = send(client, "POST", "/api/me/devices", theme="devices",
                        headers=auth(user_id), data=data, content_type=content_type)
        assert_error(response, status, context=data[:40])
    assert device_count(user_id) == 0


@pytest.fixture
def loopback_refused() -> Iterator[None]:
    settings = get_settings()
    use_settings(settings.model_copy(update={"push_allow_loopback_endpoints": False}))
    yield
    use_settings(settings)


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:9/push/x", "https://localhost/push/x",
                                      "http://localhost:8000/push/x", "https://[::1]/x"])
def test_loopback_endpoints_need_the_setting(client: Any, loopback_refused: None,
                                             endpoint: str) -> None:
    user_id = new_user_id()
    response = send(client, "POST", "/api/me/devices", theme="devices", headers=auth(user_id),
                    json=web(endpoint))
    assert_error(response, 400, "invalid_request", "endpoint")
    assert device_count(user_id) == 0


def test_another_users_device_is_the_same_404_as_a_missing_one(client: Any) -> None:
    victim, attacker = new_user_id(), new_user_id()
    theirs = client.post("/api/me/devices", headers=auth(victim),
                         json={"platform": "ios", "token": secrets.token_hex(32)}).get_json()["id"]
    answers = []
    for device_id in (theirs, theirs + 10**15):
        response = send(client, "DELETE", f"/api/me/devices/{device_id}", theme="devices",
                        headers=auth(attacker))
        body = assert_error(response, 404, "not_found")
        answers.append(body)
    assert answers[0] == answers[1], "the answer does not tell whether the id exists"
    assert device_count(victim) == 1
    for path in ("/api/me/devices/0", "/api/me/devices/-1", "/api/me/devices/abc",
                 f"/api/me/devices/{10**19}"):
        assert_error(send(client, "DELETE", path, theme="devices", headers=auth(attacker)), 404)
    assert device_count(victim) == 1


def test_a_registration_replayed_at_once_is_one_device(web: str) -> None:
    user_id = new_user_id()
    body = {"platform": "android", "token": secrets.token_urlsafe(120)}
    tried("devices", 12)

    def post(_: int) -> int:
        return requests.post(f"{web}/api/me/devices", headers=auth(user_id), json=body,
                             timeout=30).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = sorted(pool.map(post, range(12)))
    assert statuses == [200] * 11 + [201], statuses
    assert device_count(user_id) == 1


def test_a_flood_of_registrations_is_limited_and_never_holds_more_than_the_cap(
        client: Any) -> None:
    from limits import parse

    budget = int(parse(get_settings().rate_limit_writes).amount)
    user_id = new_user_id()
    statuses = []
    for _ in range(budget + 5):
        response = send(client, "POST", "/api/me/devices", theme="devices",
                        headers=auth(user_id),
                        json={"platform": "ios", "token": secrets.token_hex(32)})
        statuses.append(response.status_code)
    assert statuses[:budget] == [201] * budget
    assert_error(response, 429, "rate_limited")
    assert set(statuses[budget:]) == {429}
    assert device_count(user_id) == MAX_DEVICES
