"""The mobile and web clients' edges over the real `web` process (gunicorn, gevent): a browser's
preflight, and sign-in with an identity provider whose JWKS endpoint hangs."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from devstack.processes import free_port, wait_for_web, web_service
from devstack.waiting import wait_until
from fakes.identity_provider import IdentityProvider
from tests.support.errors import assert_error
from tests.support.session import RUN_DIR
from tests.support.users import new_user_id

ORIGIN = "https://app.example.com"
AUDIENCE = "headshots-api"
FETCH_TIMEOUT_SECONDS = 5
COOLDOWN_SECONDS = 0.5


@pytest.fixture(scope="module")
def provider() -> Iterator[IdentityProvider]:
    with IdentityProvider() as fake:
        yield fake


@pytest.fixture(scope="module")
def server(stack: dict[str, int], provider: IdentityProvider) -> Iterator[str]:
    """One gunicorn worker process (so every request meets the same key cache)."""
    port = free_port()
    service = web_service(port, RUN_DIR, name="web-clients", workers=1, env={
        "CORS_ORIGINS": ORIGIN, "JWT_JWKS_URL": provider.jwks_url,
        "JWT_ISSUER": provider.issuer, "JWT_AUDIENCE": AUDIENCE,
        "JWT_JWKS_COOLDOWN_SECONDS": str(COOLDOWN_SECONDS),
        "JWT_JWKS_TIMEOUT_SECONDS": str(FETCH_TIMEOUT_SECONDS)}).start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_web(service, base)
        yield base
    finally:
        service.stop()


def me(base: str, token: str, **headers: str) -> Any:
    return requests.get(f"{base}/api/me", timeout=30,
                        headers={"Authorization": f"Bearer {token}", **headers})


def test_a_browser_preflight_over_gunicorn(server: str) -> None:
    response = requests.options(f"{server}/api/headshots/generate", timeout=30, headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, idempotency-key"})
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert "Content-Type" not in response.headers
    assert "Content-Length" not in response.headers  # RFC 9110 §8.6: never on a 204
    assert "Transfer-Encoding" not in response.headers
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Idempotency-Key" in response.headers["Access-Control-Allow-Headers"]
    other = requests.options(f"{server}/api/headshots/generate", timeout=30, headers={
        "Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in other.headers


def test_a_hung_provider_holds_up_only_the_new_key(server: str,
                                                   provider: IdentityProvider) -> None:
    known = provider.new_key("RS256")
    user_id = new_user_id()
    answered = me(server, provider.token(known, sub=str(user_id), aud=AUDIENCE), Origin=ORIGIN)
    assert answered.status_code == 200, answered.text
    assert answered.json()["id"] == user_id
    assert answered.headers["Access-Control-Allow-Origin"] == ORIGIN

    provider.set_mode("hang")
    new = provider.new_key("ES256")
    new_token = provider.token(new, sub=str(user_id), aud=AUDIENCE)
    waiting: dict[str, Any] = {}
    fetches = provider.fetches
    time.sleep(COOLDOWN_SECONDS)  # the first fetch's cooldown: the next unknown kid fetches
    caller = threading.Thread(target=lambda: waiting.update(answer=me(server, new_token)))
    caller.start()
    try:
        wait_until(lambda: provider.fetches > fetches, timeout=10,
                   message="the new key's request to fetch the JWKS")
        # While that fetch hangs, the known key's requests are answered by the same process.
        for _ in range(5):
            fresh = provider.token(known, sub=str(user_id), aud=AUDIENCE)
            assert me(server, fresh).status_code == 200
        assert caller.is_alive(), "the fetch was not hanging while the known key was served"
    finally:
        caller.join(FETCH_TIMEOUT_SECONDS + 20)
    refused = waiting["answer"]
    assert_error(refused, 503, "identity_provider_unavailable")
    assert int(refused.headers["Retry-After"]) >= 1
    provider.set_mode("up")
    wait_until(lambda: me(server, new_token).status_code == 200, timeout=15,
               message="the new key accepted once the provider is back")
