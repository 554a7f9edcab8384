"""Sign-in with an identity provider (§2): tokens checked against its JWKS, served by a real
HTTP server on loopback (fakes/identity_provider.py) that rotates its keys, fails and hangs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from config import get_settings, use_settings
from fakes.identity_provider import IdentityProvider
from tests.support.errors import assert_error
from tests.support.users import make_token, new_user_id

pytestmark = pytest.mark.usefixtures("stack")
AUDIENCE = "headshots-api"
Install = Callable[..., None]


@pytest.fixture
def provider() -> Iterator[IdentityProvider]:
    with IdentityProvider() as fake:
        yield fake


@pytest.fixture
def use_provider(provider: IdentityProvider) -> Iterator[Install]:
    """Install settings that sign in with `provider` (plus `changes`); the run's afterwards."""
    original = get_settings()

    def install(**changes: Any) -> None:
        use_settings(original.model_copy(update={
            "jwt_jwks_url": provider.jwks_url, "jwt_issuer": provider.issuer,
            "jwt_audience": AUDIENCE, "jwt_jwks_timeout_seconds": 0.5, **changes}))

    yield install
    use_settings(original)


def me(client: Any, token: str) -> Any:
    return client.get("/api/me", headers={"Authorization": f"Bearer {token}"})


def accepted(client: Any, token: str, user_id: int) -> bool:
    response = me(client, token)
    return response.status_code == 200 and response.get_json()["id"] == user_id


def wait_for(condition: Callable[[], bool], *, deadline: float = 10) -> bool:
    ends = time.monotonic() + deadline
    while time.monotonic() < ends:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_a_providers_token_signs_the_user_in(client: Any, provider: IdentityProvider,
                                             use_provider: Install, algorithm: str) -> None:
    use_provider()
    kid = provider.new_key(algorithm)  # type: ignore[arg-type]
    user_id = new_user_id()
    response = me(client, provider.token(kid, sub=str(user_id), aud=AUDIENCE,
                                         email="ada@example.com"))
    assert response.status_code == 200, response.data
    assert response.get_json()["id"] == user_id
    assert response.get_json()["email"] == "ada@example.com"
    admin = provider.token(kid, sub=str(new_user_id()), aud=AUDIENCE, role="admin")
    assert client.get("/api/admin/failures",
                      headers={"Authorization": f"Bearer {admin}"}).status_code == 200


def test_rotation_refuses_no_request(client: Any, provider: IdentityProvider,
                                     use_provider: Install) -> None:
    """The provider publishes a new key, signs with it a moment later, keeps the old one listed
    a while, then drops it: every request of that time is accepted; the dropped key's tokens
    stop working once the set is fetched again."""
    cooldown, max_age = 0.2, 0.5
    use_provider(jwt_jwks_cooldown_seconds=cooldown, jwt_jwks_max_age_seconds=max_age)
    old_kid = provider.new_key("RS256")
    users = [new_user_id() for _ in range(3)]
    old_tokens = {user: provider.token(old_kid, sub=str(user), aud=AUDIENCE) for user in users}
    refused: list[str] = []

    def traffic(tokens: dict[int, str], seconds: float) -> None:
        """Each token in turn for `seconds`; a token's key is its user (or minus it)."""
        ends = time.monotonic() + seconds
        while time.monotonic() < ends:
            for user, token in tokens.items():
                response = me(client, token)
                if response.status_code != 200 or response.get_json()["id"] != abs(user):
                    refused.append(f"{response.status_code} {response.data[:200]!r}")

    traffic(old_tokens, max_age * 2)
    new_kid = provider.new_key("ES256")  # published beside the old one
    traffic(old_tokens, cooldown * 1.5)  # a provider publishes a key before it signs with it
    new_tokens = {user: provider.token(new_kid, sub=str(user), aud=AUDIENCE) for user in users}
    traffic({**old_tokens, **{-user: token for user, token in new_tokens.items()}}, max_age * 3)
    provider.unpublish(old_kid)
    traffic(new_tokens, max_age * 3)
    assert not refused, refused[:5]
    # The old key is gone from the provider: its tokens, still unexpired, stop working.
    assert wait_for(lambda: me(client, old_tokens[users[0]]).status_code == 401)
    assert_error(me(client, old_tokens[users[1]]), 401, "unauthorized")
    assert all(accepted(client, token, user) for user, token in new_tokens.items())


def test_an_unknown_kid_fetches_the_set_again(client: Any, provider: IdentityProvider,
                                              use_provider: Install) -> None:
    cooldown = 0.3
    use_provider(jwt_jwks_cooldown_seconds=cooldown)
    first = provider.new_key("RS256")
    user_id = new_user_id()
    assert accepted(client, provider.token(first, sub=str(user_id), aud=AUDIENCE), user_id)
    assert provider.fetches == 1
    assert accepted(client, provider.token(first, sub=str(user_id), aud=AUDIENCE), user_id)
    assert provider.fetches == 1  # a held key costs no fetch
    second = provider.new_key("ES256")
    time.sleep(cooldown)
    assert accepted(client, provider.token(second, sub=str(user_id), aud=AUDIENCE), user_id)
    assert provider.fetches == 2
    time.sleep(cooldown)
    never_published = provider.new_key("RS256", publish=False)
    response = me(client, provider.token(never_published, sub=str(user_id), aud=AUDIENCE))
    assert_error(response, 401, "unauthorized")
    assert provider.fetches == 3  # looked up once, not found: refused


def test_a_flood_of_made_up_kids_costs_the_provider_nothing(
        client: Any, provider: IdentityProvider, use_provider: Install) -> None:
    use_provider(jwt_jwks_cooldown_seconds=60)
    kid = provider.new_key("RS256")
    user_id = new_user_id()
    good = provider.token(kid, sub=str(user_id), aud=AUDIENCE)
    assert accepted(client, good, user_id)
    rogue = provider.new_key("RS256", publish=False)
    for _ in range(50):
        token = provider.token(rogue, sub=str(user_id), aud=AUDIENCE,
                               headers={"kid": uuid.uuid4().hex})
        response = me(client, token)
        assert_error(response, 503, "identity_provider_unavailable")
        assert 1 <= int(response.headers["Retry-After"]) <= 60
        assert accepted(client, good, user_id)  # the real users go on
    assert provider.fetches == 1


@pytest.mark.parametrize("outage", ["error", "garbage", "hang"])
def test_a_provider_outage_refuses_only_new_keys(client: Any, provider: IdentityProvider,
                                                 use_provider: Install, outage: str) -> None:
    cooldown = 0.3
    use_provider(jwt_jwks_cooldown_seconds=cooldown, jwt_jwks_max_age_seconds=0.3)
    known = provider.new_key("RS256")
    user_id = new_user_id()
    assert accepted(client, provider.token(known, sub=str(user_id), aud=AUDIENCE), user_id)
    provider.set_mode(outage)  # type: ignore[arg-type]
    new = provider.new_key("ES256")
    new_token = provider.token(new, sub=str(user_id), aud=AUDIENCE)
    time.sleep(cooldown)
    response = me(client, new_token)
    assert_error(response, 503, "identity_provider_unavailable")
    assert int(response.headers["Retry-After"]) >= 1
    fetches = provider.fetches
    # Past the set's max age, each held key's request would start a background fetch: they
    # are answered all the same, and fetch once per cooldown at most.
    started = time.monotonic()
    for _ in range(20):
        fresh = provider.token(known, sub=str(user_id), aud=AUDIENCE)
        assert accepted(client, fresh, user_id)
        time.sleep(0.05)
    assert provider.fetches - fetches <= (time.monotonic() - started) / cooldown + 1
    provider.set_mode("up")
    assert wait_for(lambda: accepted(client, new_token, user_id))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _hmac_token(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def test_bad_provider_tokens_are_401(client: Any, provider: IdentityProvider,
                                     use_provider: Install) -> None:
    use_provider(jwt_jwks_cooldown_seconds=0)
    rsa_kid, ec_kid = provider.new_key("RS256"), provider.new_key("ES256")
    rogue = provider.new_key("RS256", publish=False)
    user = str(new_user_id())
    claims = {"sub": user, "iss": provider.issuer, "aud": AUDIENCE,
              "exp": int(time.time()) + 600}
    bad = {
        "wrong issuer": provider.token(rsa_kid, sub=user, aud=AUDIENCE,
                                       iss="http://127.0.0.1:1/"),
        "no issuer": provider.token(rsa_kid, sub=user, aud=AUDIENCE, iss=None),
        "wrong audience": provider.token(rsa_kid, sub=user, aud="another-app"),
        "no audience": provider.token(rsa_kid, sub=user),
        "expired": provider.token(ec_kid, sub=user, aud=AUDIENCE, expires_in=-10),
        "sub not a user id": provider.token(rsa_kid, sub="auth0|123", aud=AUDIENCE),
        "alg confusion: HS256 keyed with the RSA public key": _hmac_token(
            {"alg": "HS256", "typ": "JWT", "kid": rsa_kid}, claims,
            provider.public_pem(rsa_kid)),
        "HS256 with the service's secret (off with a provider)": make_token(user),
        "alg none": f"{_b64(json.dumps({'alg': 'none', 'kid': rsa_kid}).encode())}."
                    f"{_b64(json.dumps(claims).encode())}.",
        "RS256 named on the EC key": provider.token(rsa_kid, sub=user, aud=AUDIENCE,
                                                    headers={"kid": ec_kid}),
        "ES256 named on the RSA key": provider.token(ec_kid, sub=user, aud=AUDIENCE,
                                                     headers={"kid": rsa_kid}),
        "a rogue key claiming a published kid": provider.token(
            rogue, sub=user, aud=AUDIENCE, headers={"kid": rsa_kid}),
        "a key the provider never published": provider.token(rogue, sub=user, aud=AUDIENCE),
        "RS512": provider.token(rsa_kid, sub=user, aud=AUDIENCE, headers={"alg": "RS512"}),
        "no kid": provider.token(rsa_kid, sub=user, aud=AUDIENCE, headers={"kid": None}),
    }
    for kind, token in bad.items():
        assert_error(me(client, token), 401, "unauthorized", context=kind)
    assert accepted(client, provider.token(rsa_kid, sub=user, aud=AUDIENCE), int(user))


def test_a_refused_alg_never_makes_a_fetch(client: Any, provider: IdentityProvider,
                                           use_provider: Install) -> None:
    use_provider(jwt_jwks_cooldown_seconds=0)
    kid = provider.new_key("RS256")
    user = str(new_user_id())
    assert accepted(client, provider.token(kid, sub=user, aud=AUDIENCE), int(user))
    claims = {"sub": user, "iss": provider.issuer, "aud": AUDIENCE,
              "exp": int(time.time()) + 600}
    fetches = provider.fetches
    for header in ({"alg": "none", "kid": "new-1"}, {"alg": "HS512", "kid": "new-2"},
                   {"alg": "PS256", "kid": "new-3"}, {"alg": "HS256", "kid": "new-4"}):
        token = _hmac_token(header, claims, b"k" * 32)
        assert_error(me(client, token), 401, "unauthorized", context=header)
    assert provider.fetches == fetches


def test_hs256_beside_the_provider_only_when_allowed(client: Any, provider: IdentityProvider,
                                                     use_provider: Install) -> None:
    user_id = new_user_id()
    use_provider()
    assert_error(me(client, make_token(user_id)), 401, "unauthorized")
    use_provider(jwt_allow_hs256=True)
    assert accepted(client, make_token(user_id, iss=provider.issuer, aud=AUDIENCE), user_id)
    # The provider's issuer and audience hold for HS256 tokens too.
    assert_error(me(client, make_token(user_id)), 401, "unauthorized")
