"""`GET /api/me`'s push setup (§13) as an attacker sees it: without a valid token it is the §3
401 and gives nothing away (no key, no user row); with push off it is `null`, never a 500; and
it only ever holds the public half of the VAPID key, whoever asks, however often."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from config import get_settings, use_settings
from tests.hostile.test_tokens import BAD_AUTHORIZATION
from tests.support.errors import assert_error
from tests.support.hostile import assert_unchanged, footprint, send
from tests.support.users import auth, make_token, new_user_id

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")

PUSH_SETTINGS = ("vapid_private_key", "vapid_subject", "fcm_credentials_file", "apns_key_file",
                 "apns_key_id", "apns_team_id", "apns_topic")


@pytest.fixture
def push_off() -> Iterator[None]:
    settings = get_settings()
    use_settings(settings.model_copy(update=dict.fromkeys(PUSH_SETTINGS)))
    yield
    use_settings(settings)


def test_without_a_valid_token_it_is_401_with_no_key_and_no_user(client: Any) -> None:
    public_key = get_settings().vapid_public_key
    assert public_key
    user_id = new_user_id()
    before = footprint(user_id, media=False)
    headers: list[dict[str, str]] = [{}, {"Authorization": ""}, {"Authorization": "Bearer"}]
    headers += [{"Authorization": bad(user_id)} for bad in BAD_AUTHORIZATION.values()]
    for given in headers:
        response = send(client, "GET", "/api/me", theme="push setup", headers=given)
        assert_error(response, 401, "unauthorized")
        assert public_key not in response.get_data(as_text=True), given
    assert_unchanged(before, footprint(user_id, media=False), "push setup without a token")


def test_with_push_off_it_is_null_not_an_error(client: Any, push_off: None) -> None:
    response = send(client, "GET", "/api/me", theme="push setup", headers=auth(new_user_id()))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["push"] == {"platforms": [], "webPush": None}


def test_every_caller_gets_the_public_half_only(client: Any) -> None:
    settings = get_settings()
    assert settings.vapid_private_key
    answers = set()
    for token in (make_token(new_user_id()), make_token(new_user_id(), role="admin"),
                  make_token(new_user_id(), email="x@example.com")):
        for _ in range(3):  # a replay is the same answer
            response = send(client, "GET", "/api/me", theme="push setup",
                            headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200
            assert settings.vapid_private_key not in response.get_data(as_text=True)
            answers.add(response.get_json()["push"]["webPush"]["publicKey"])
    assert answers == {settings.vapid_public_key}
