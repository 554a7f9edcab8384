"""`POST /api/headshots/generate`: charge and job in one transaction, or nothing at all."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api_calls import generate, grant, me, uploaded_url
from tests.support.domain import jobs_of
from tests.support.errors import assert_error
from tests.support.users import auth, new_user_id

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")


def test_generate_charges_once_and_queues(client: Any) -> None:
    user_id = new_user_id()
    grant(client, user_id, 5)
    url = uploaded_url(client, user_id)
    response = generate(client, user_id, url, style="model", aspect_ratio="4:5")
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert response.headers["Location"] == f"/api/headshots/status/{body['id']}"
    assert body["status"] == "queued" and body["progress"] == 0
    assert body["style"] == "model" and body["aspectRatio"] == "4:5"
    assert body["resultUrls"] == [] and body["error"] is None and body["retryCount"] == 0
    assert body["originalImageUrl"].startswith("http")
    account = me(client, user_id)
    assert account["credits"] == 3  # the model style costs 2
    assert account["totalCreditsSpent"] == 2
    entries = client.get("/api/credits/history", headers=auth(user_id)).get_json()["data"]
    assert [(e["type"], e["amount"], e["generationId"], e["balanceAfter"]) for e in entries] == [
        ("headshot", -2, body["id"], 3), ("grant", 5, None, 5)]


def test_without_credits_it_is_402_and_nothing_changes(client: Any) -> None:
    user_id = new_user_id()
    url = uploaded_url(client, user_id)
    assert_error(generate(client, user_id, url), 402, "insufficient_credits")
    assert me(client, user_id)["credits"] == 0
    assert jobs_of(user_id) == 0


def _other_users_url(client: Any) -> str:
    return uploaded_url(client, new_user_id())


@pytest.mark.parametrize(
    ("make_body", "field"),
    [
        (lambda url, c: {"imageUrl": url, "style": "no-such-style"}, "style"),
        (lambda url, c: {"imageUrl": url, "style": "corporate", "aspectRatio": "7:3"},
         "aspectRatio"),
        (lambda url, c: {"imageUrl": url, "style": "corporate", "aspectRatio": 5}, "aspectRatio"),
        (lambda url, c: {"style": "corporate"}, "imageUrl"),
        (lambda url, c: {"imageUrl": url}, "style"),
        (lambda url, c: {"imageUrl": "http://10.0.0.1/media/x.jpg", "style": "corporate"},
         "imageUrl"),
        (lambda url, c: {"imageUrl": "file:///etc/passwd", "style": "corporate"}, "imageUrl"),
        (lambda url, c: {"imageUrl": url.replace("127.0.0.1", "evil.example"),
                         "style": "corporate"}, "imageUrl"),
        (lambda url, c: {"imageUrl": url.replace("sig=", "sig=A"), "style": "corporate"},
         "imageUrl"),
        (lambda url, c: {"imageUrl": _other_users_url(c), "style": "corporate"}, "imageUrl"),
        (lambda url, c: {"imageUrl": url, "style": "corporate" * 20}, "style"),
        (lambda url, c: [url], "body"),
    ],
    ids=["unknown style", "bad ratio", "ratio not a string", "no url", "no style",
         "private address", "file url", "other host", "tampered signature",
         "another user's upload", "huge style", "not an object"],
)
def test_bad_generate_requests_are_400_and_charge_nothing(client: Any, make_body: Any,
                                                         field: str) -> None:
    user_id = new_user_id()
    grant(client, user_id, 3)
    url = uploaded_url(client, user_id)
    response = client.post("/api/headshots/generate", headers=auth(user_id),
                           json=make_body(url, client))
    body = assert_error(response, 400)
    assert body["error"]["message"].startswith(field), body
    assert me(client, user_id)["credits"] == 3
    assert jobs_of(user_id) == 0


def test_non_json_body_is_400(client: Any) -> None:
    response = client.post("/api/headshots/generate", headers=auth(new_user_id()),
                           data="imageUrl=x", content_type="application/x-www-form-urlencoded")
    assert_error(response, 400, "invalid_request")
