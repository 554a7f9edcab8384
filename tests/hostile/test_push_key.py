"""`GET /api/push/vapid-public-key` (§13) against hostile requests: no token or a bad one, other
methods, junk in the query, Web Push switched off. Each is the §3 error (or the same key), and
the answer is only ever the public half: never a byte of VAPID_PRIVATE_KEY.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from config import get_settings, use_settings
from tests.support.errors import assert_error
from tests.support.hostile import send, tried
from tests.support.users import auth, make_token, new_user_id

pytestmark = pytest.mark.usefixtures("stack")
PATH = "/api/push/vapid-public-key"


@pytest.fixture
def push_off() -> Iterator[None]:
    settings = get_settings()
    use_settings(settings.model_copy(update={"vapid_private_key": None, "vapid_subject": None}))
    yield
    use_settings(settings)


def test_the_key_is_the_public_point_and_never_the_private_half(client: Any) -> None:
    answer = send(client, "GET", PATH, theme="push key", headers=auth(new_user_id()))
    assert answer.status_code == 200
    public = answer.get_json()["publicKey"]
    point = base64.urlsafe_b64decode(public + "=")
    assert len(point) == 65 and point[0] == 4  # an uncompressed P-256 point
    private = get_settings().vapid_private_key
    assert private and private not in answer.get_data(as_text=True)


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer"}, {"Authorization": "Bearer not.a.token"},
    {"Authorization": f"Bearer {make_token(1, expires_in=-60)}"},
    {"Authorization": f"Bearer {make_token(1, secret='another-secret-of-32-bytes-or-more!')}"},
])
def test_without_a_valid_token_it_is_a_401(client: Any, headers: dict[str, str]) -> None:
    assert_error(send(client, "GET", PATH, theme="push key", headers=headers), 401,
                 "unauthorized")


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_other_methods_are_a_405(web: str, method: str) -> None:
    tried("push key")
    response = requests.request(method, f"{web}{PATH}", headers=auth(new_user_id()),
                                json={"publicKey": "x"}, timeout=10)
    assert_error(response, 405, "method_not_allowed")


def test_the_query_changes_nothing(client: Any) -> None:
    user = auth(new_user_id())
    plain = send(client, "GET", PATH, theme="push key", headers=user).get_json()
    for query in ("?publicKey=AAAA", "?format=pem", "?private=1", "?%00=%ff"):
        assert send(client, "GET", PATH + query, theme="push key",
                    headers=user).get_json() == plain, query


def test_with_web_push_off_it_is_a_404(client: Any, push_off: None) -> None:
    assert_error(send(client, "GET", PATH, theme="push key", headers=auth(new_user_id())),
                 404, "not_found")
