"""CORS (§12): the origins of CORS_ORIGINS may call /api from a browser; no other may."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from config import get_settings, use_settings
from tests.support.errors import assert_error
from tests.support.users import auth, new_user_id

pytestmark = pytest.mark.usefixtures("stack")
APP_ORIGIN = "https://app.example.com"
DEV_ORIGIN = "http://localhost:5173"
REQUESTED_HEADERS = "authorization, content-type, idempotency-key, if-none-match, last-event-id"


@pytest.fixture
def origins() -> Iterator[None]:
    original = get_settings()
    use_settings(original.model_copy(update={"cors_origins": f"{APP_ORIGIN},{DEV_ORIGIN}",
                                             "rate_limit_writes": "3/minute"}))
    yield
    use_settings(original)


def preflight(client: Any, path: str, method: str = "POST", origin: str = APP_ORIGIN) -> Any:
    return client.options(path, headers={"Origin": origin,
                                         "Access-Control-Request-Method": method,
                                         "Access-Control-Request-Headers": REQUESTED_HEADERS})


def listed(response: Any, header: str) -> set[str]:
    return {name.strip().lower() for name in response.headers.get(header, "").split(",")}


@pytest.mark.usefixtures("origins")
@pytest.mark.parametrize(("path", "method"), [
    ("/api/headshots/generate", "POST"), ("/api/headshots/history/12", "DELETE"),
    ("/api/headshots/status/12/stream", "GET"), ("/api/headshots/status/12/signed-stream", "GET"),
    ("/api/admin/users/5/credits", "POST"),
])
def test_a_preflight_is_answered_without_a_token(client: Any, path: str, method: str) -> None:
    response = preflight(client, path, method, origin=DEV_ORIGIN)
    assert response.status_code == 204, response.data
    assert response.data == b""
    assert "Content-Type" not in response.headers
    assert response.headers["Access-Control-Allow-Origin"] == DEV_ORIGIN
    assert method.lower() in listed(response, "Access-Control-Allow-Methods")
    assert set(REQUESTED_HEADERS.split(", ")) <= listed(response, "Access-Control-Allow-Headers")
    assert int(response.headers["Access-Control-Max-Age"]) > 0
    assert "origin" in listed(response, "Vary")
    assert "Access-Control-Allow-Credentials" not in response.headers  # tokens, no cookies


@pytest.mark.usefixtures("origins")
def test_answers_to_an_allowed_origin_expose_their_headers(client: Any) -> None:
    user_id = new_user_id()
    response = client.get("/api/me", headers={**auth(user_id), "Origin": APP_ORIGIN})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    exposed = listed(response, "Access-Control-Expose-Headers")
    assert {"location", "etag", "retry-after", "ratelimit-limit", "ratelimit-remaining",
            "ratelimit-reset", "content-disposition", "x-request-id"} <= exposed
    assert "origin" in listed(response, "Vary")
    # An error too: the page must be able to read the 401 to sign the user in again.
    refused = client.get("/api/me", headers={"Origin": APP_ORIGIN})
    assert_error(refused, 401, "unauthorized")
    assert refused.headers["Access-Control-Allow-Origin"] == APP_ORIGIN


@pytest.mark.usefixtures("origins")
@pytest.mark.parametrize("origin", ["https://evil.example.com", "https://app.example.com.evil.io",
                                    "http://app.example.com", "https://APP.example.com", "null"])
def test_another_origin_gets_no_cors_header(client: Any, origin: str) -> None:
    answered = client.get("/api/me", headers={**auth(new_user_id()), "Origin": origin})
    assert answered.status_code == 200
    assert "Access-Control-Allow-Origin" not in answered.headers
    assert "origin" in listed(answered, "Vary")  # a cache must not give it the allowed answer
    refused = preflight(client, "/api/headshots/generate", origin=origin)
    assert_error(refused, 401, "unauthorized")  # as any OPTIONS without a token
    assert not [name for name, _ in refused.headers.items() if name.startswith("Access-Control")]


def test_no_origin_is_allowed_by_default(client: Any) -> None:
    assert get_settings().allowed_cors_origins == frozenset()
    refused = preflight(client, "/api/headshots/generate")
    assert_error(refused, 401, "unauthorized")
    answered = client.get("/api/me", headers={**auth(new_user_id()), "Origin": APP_ORIGIN})
    assert "Access-Control-Allow-Origin" not in answered.headers


@pytest.mark.usefixtures("origins")
def test_preflights_spend_no_rate_budget(client: Any) -> None:
    user_id = new_user_id()
    path = "/api/headshots/999999999/favorite"  # a write route (budget: 3/minute here)
    for _ in range(10):
        assert preflight(client, path, origin=APP_ORIGIN).status_code == 204
    for _ in range(3):
        answer = client.post(path, headers={**auth(user_id), "Origin": APP_ORIGIN})
        assert_error(answer, 404, "not_found")
        assert answer.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    limited = client.post(path, headers={**auth(user_id), "Origin": APP_ORIGIN})
    assert_error(limited, 429, "rate_limited")
    assert "retry-after" in listed(limited, "Access-Control-Expose-Headers")


@pytest.mark.usefixtures("origins")
def test_outside_the_api_nothing_changes(client: Any) -> None:
    response = client.get("/healthz", headers={"Origin": APP_ORIGIN})
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.usefixtures("origins")
def test_the_signed_stream_answers_an_allowed_origin_without_a_token(client: Any) -> None:
    """A browser's EventSource opens `statusStreamUrl` with no token: its refusal too must be
    readable by the page's origin."""
    refused = client.get("/api/headshots/status/12/signed-stream?user=5&exp=1&sig=x",
                         headers={"Origin": APP_ORIGIN})
    assert_error(refused, 404, "not_found")
    assert refused.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
