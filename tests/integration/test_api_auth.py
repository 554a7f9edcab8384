"""Authentication (API guide §2) and the error shape (§3) on every kind of miss."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest

from tests.support.errors import assert_error
from tests.support.users import TEST_JWT_SECRET, auth, make_token, new_user_id

pytestmark = pytest.mark.usefixtures("stack")


def _unsigned_token(user_id: int) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part({'sub': str(user_id), 'exp': 9e9})}."


BAD_TOKENS = {
    "forged": lambda uid: make_token(uid, secret="not-the-secret"),
    "expired": lambda uid: make_token(uid, expires_in=-10),
    "alg none": _unsigned_token,
    "HS512": lambda uid: jwt.encode({"sub": str(uid), "exp": time.time() + 60},
                                    TEST_JWT_SECRET, algorithm="HS512"),
    "no exp": lambda uid: jwt.encode({"sub": str(uid)}, TEST_JWT_SECRET),
    "sub not decimal": lambda uid: make_token("abc"),
    "sub zero": lambda uid: make_token("0"),
    "sub huge": lambda uid: make_token("9" * 30),
    "garbage": lambda uid: "not.a.jwt",
}


@pytest.mark.parametrize("kind", sorted(BAD_TOKENS))
def test_bad_tokens_are_401_on_every_protected_route(client: Any, kind: str) -> None:
    token = BAD_TOKENS[kind](new_user_id())
    headers = {"Authorization": f"Bearer {token}"}
    for method, path in [("get", "/api/me"), ("get", "/api/headshots/history"),
                         ("get", "/api/headshots/status/1"), ("post", "/api/uploads"),
                         ("post", "/api/headshots/generate"),
                         ("post", "/api/admin/users/5/credits")]:
        response = getattr(client, method)(path, headers=headers)
        assert_error(response, 401, "unauthorized")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic abc", "token"])
def test_missing_or_malformed_header_is_401(client: Any, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    assert_error(client.get("/api/me", headers=headers), 401, "unauthorized")


def test_a_valid_token_for_a_new_user_creates_it_with_zero_credits(client: Any) -> None:
    user_id = new_user_id()
    response = client.get("/api/me", headers=auth(user_id, email="ada@example.com"))
    assert response.status_code == 200
    account = response.get_json()
    features = account.pop("features")  # every flag: none set, so all on (§14)
    account.pop("push")  # the run's push setup (§13: tests/integration/test_push_setup.py)
    assert account == {
        "id": user_id, "email": "ada@example.com", "credits": 0,
        "totalHeadshotsGenerated": 0, "totalCreditsSpent": 0, "devices": [],
    }
    assert {"batch", "export", "share", "push", "style:corporate"} <= set(features)
    assert all(features.values())


def test_a_user_token_is_403_on_admin_routes(client: Any) -> None:
    response = client.post("/api/admin/users/5/credits", headers=auth(new_user_id()),
                           json={"amount": 5, "reason": "x"})
    assert_error(response, 403, "forbidden")


def test_unknown_routes_and_methods_get_the_error_shape(client: Any) -> None:
    assert_error(client.get("/nope"), 404, "not_found")
    assert_error(client.get("/api/headshots/status/abc", headers=auth(5)), 404)
    assert_error(client.get("/api/headshots/status/" + "9" * 40, headers=auth(5)), 404)
    response = client.put("/api/headshots/generate", headers=auth(5))
    assert_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]


def test_health_and_readiness(client: Any) -> None:
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"] == {"postgres": "ok", "redis": "ok"}
