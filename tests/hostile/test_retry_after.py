"""`Retry-After` tells a client to back off: it belongs on a 429 (and a 503), never on a request
that succeeded, where a client that honours it would wait a minute for nothing."""

from __future__ import annotations

from io import BytesIO
from typing import Any

import pytest
import requests

from tests.support.assets import SELFIE
from tests.support.domain import funded_user, signed_url, stored_upload
from tests.support.errors import assert_error
from tests.support.hostile import send, tried
from tests.support.users import auth, new_user_id

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")


def _budget() -> int:
    from limits import parse

    from config import get_settings

    return int(parse(get_settings().rate_limit_writes).amount)


def _no_retry_after(response: Any, status: int, context: str) -> None:
    assert response.status_code == status, (context, response.get_json())
    assert "Retry-After" not in response.headers, (context, dict(response.headers))


def test_successful_writes_and_reads_carry_no_retry_after(client: Any) -> None:
    tried("retry-after", 7)
    user_id = funded_user(3)
    headers = auth(user_id)
    uploaded = client.post("/api/uploads", headers=headers, content_type="multipart/form-data",
                           data={"image": (BytesIO(SELFIE.read_bytes()), "me.jpg")})
    _no_retry_after(uploaded, 201, "upload")
    accepted = client.post("/api/headshots/generate", headers=headers, json={
        "imageUrl": uploaded.get_json()["imageUrl"], "style": "corporate"})
    _no_retry_after(accepted, 202, "generate")
    job = accepted.get_json()["id"]
    _no_retry_after(client.post(f"/api/headshots/{job}/favorite", headers=headers), 200,
                    "favorite")
    _no_retry_after(client.get(f"/api/headshots/status/{job}", headers=headers), 200, "status")
    _no_retry_after(client.delete(f"/api/headshots/history/{job}", headers=headers), 204,
                    "delete")
    _no_retry_after(client.post(f"/api/admin/users/{user_id}/credits",
                                headers=auth(new_user_id(), role="admin"),
                                json={"amount": 1, "reason": "x"}), 201, "grant")
    _no_retry_after(client.get("/api/me", headers=headers), 200, "me")


def test_a_real_server_sends_no_retry_after_on_a_202(web: str) -> None:
    tried("retry-after")
    user_id = funded_user(1)
    url = signed_url(stored_upload(user_id))
    answer = requests.post(f"{web}/api/headshots/generate", headers=auth(user_id), timeout=30,
                           json={"imageUrl": url, "style": "corporate"})
    assert answer.status_code == 202, answer.text
    assert "Retry-After" not in answer.headers, dict(answer.headers)


def test_a_429_carries_retry_after_within_the_window(client: Any) -> None:
    user_id = new_user_id()
    for _ in range(_budget()):
        send(client, "DELETE", "/api/headshots/history/1", theme="retry-after",
             headers=auth(user_id))
    limited = send(client, "DELETE", "/api/headshots/history/1", theme="retry-after",
                   headers=auth(user_id))
    assert_error(limited, 429, "rate_limited")
    assert 1 <= int(limited.headers["Retry-After"]) <= 60, limited.headers["Retry-After"]


def test_an_operator_429_carries_retry_after(client: Any) -> None:
    from limits import parse

    from config import get_settings

    operator, user_id = new_user_id(), funded_user(0)
    for _ in range(int(parse(get_settings().rate_limit_admin).amount)):
        send(client, "POST", f"/api/admin/users/{user_id}/credits", theme="retry-after",
             headers=auth(operator, role="admin"), json={})
    limited = send(client, "POST", f"/api/admin/users/{user_id}/credits", theme="retry-after",
                   headers=auth(operator, role="admin"), json={"amount": 1, "reason": "x"})
    assert_error(limited, 429, "rate_limited")
    assert 1 <= int(limited.headers["Retry-After"]) <= 60

