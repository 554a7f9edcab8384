"""`Idempotency-Key` on generate (API guide §6): a malformed key is a 400, a reused key never
charges twice, and one user's key never hands back another user's job."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.domain import funded_user, signed_url, stored_upload
from tests.support.errors import assert_error
from tests.support.hostile import assert_unchanged, footprint, send
from tests.support.users import auth

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")

BAD_KEYS = {
    "empty": "",
    "space inside": "a b",
    "256 characters": "k" * 256,
    "10 KB": "k" * 10_000,
    "non-ASCII": "ключ",
    "emoji": "🔑",
    "tab inside": "a\tb",
    "DEL character": "a\x7fb",
}


def _generate(client: Any, user_id: int, url: str, key: str, style: str = "corporate") -> Any:
    return send(client, "post", "/api/headshots/generate", theme="idempotency",
                headers={**auth(user_id), "Idempotency-Key": key},
                json={"imageUrl": url, "style": style})


@pytest.mark.parametrize("kind", list(BAD_KEYS))
def test_malformed_keys_are_400_and_charge_nothing(client: Any, kind: str) -> None:
    user_id = funded_user(5)
    url = signed_url(stored_upload(user_id))
    before = footprint(user_id)
    response = _generate(client, user_id, url, BAD_KEYS[kind])
    assert_error(response, 400, "invalid_request", field="Idempotency-Key", context=kind)
    assert_unchanged(before, footprint(user_id), kind)


def test_the_same_key_with_another_body_is_409_and_charges_nothing(client: Any) -> None:
    user_id = funded_user(5)
    url = signed_url(stored_upload(user_id))
    assert _generate(client, user_id, url, "key-1").status_code == 202
    before = footprint(user_id)
    response = _generate(client, user_id, url, "key-1", style="creative")
    assert_error(response, 409, context="same key, other body")
    assert_unchanged(before, footprint(user_id), "same key, other body")


def test_another_users_key_never_returns_their_job(client: Any) -> None:
    owner, intruder = funded_user(5), funded_user(5)
    owner_url = signed_url(stored_upload(owner))
    first = _generate(client, owner, owner_url, "shared-key")
    assert first.status_code == 202
    before = footprint(owner, intruder)
    # the owner's exact request, key and all: the intruder may not use that upload
    response = _generate(client, intruder, owner_url, "shared-key")
    assert_error(response, 400, field="imageUrl", context="owner's body and key")
    assert_unchanged(before, footprint(owner, intruder), "owner's body and key")
    # the intruder's own upload under the same key: a job of their own, not the owner's
    own = _generate(client, intruder, signed_url(stored_upload(intruder)), "shared-key")
    assert own.status_code == 202
    assert own.get_json()["id"] != first.get_json()["id"]
