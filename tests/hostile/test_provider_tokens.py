"""Tokens of the identity provider (§2: JWKS, RS256 and ES256) as an attacker crafts them, against
the fake provider of fakes/identity_provider.py: malformed JWTs, algorithm confusion (none,
HS256 keyed with the public key, RS256 named on the EC key and the reverse), wrong or odd
issuer, audience and time claims, injection through the `kid`, another user's id signed by
another key set, an expired token replayed, and a flood of made-up kids. Each is refused with
the §3 error (401, or 503 while a new kid cannot be looked up; never a 500), creates no user
and costs the provider at most one fetch per cooldown."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from config import get_settings, use_settings
from fakes.identity_provider import IdentityProvider
from tests.support.errors import assert_error, error_failures
from tests.support.hostile import assert_unchanged, footprint, send
from tests.support.users import make_token, new_user_id

pytestmark = pytest.mark.usefixtures("stack")

AUDIENCE = "headshots-api"
THEME = "provider tokens"
NESTED = b'{"a":' * 5000 + b"1" + b"}" * 5000  # JSON deeper than Python's recursion limit
Install = Callable[..., None]


# ---- the provider, the settings that trust it, tokens built by hand ------------------------


@pytest.fixture(scope="module")
def provider() -> Iterator[IdentityProvider]:
    with IdentityProvider() as fake:
        yield fake


@pytest.fixture(scope="module")
def impostor() -> Iterator[IdentityProvider]:
    """Another key set, published at its own URL: valid signatures the service must not trust."""
    with IdentityProvider() as fake:
        yield fake


@pytest.fixture(scope="module")
def keys(provider: IdentityProvider, impostor: IdentityProvider) -> dict[str, str]:
    return {"rsa": provider.new_key("RS256"), "ec": provider.new_key("ES256"),
            "unpublished": provider.new_key("RS256", publish=False),
            "impostor rsa": impostor.new_key("RS256"), "impostor ec": impostor.new_key("ES256")}


@pytest.fixture
def trust(provider: IdentityProvider) -> Iterator[Install]:
    """Install settings that sign in with `provider` only (HS256 off), each call a new key
    cache (the settings' `per_settings` objects are built anew); the run's afterwards."""
    original = get_settings()

    def install(**changes: Any) -> None:
        use_settings(original.model_copy(update={
            "jwt_jwks_url": provider.jwks_url, "jwt_issuer": provider.issuer,
            "jwt_audience": AUDIENCE, "jwt_jwks_timeout_seconds": 0.5,
            "jwt_allow_hs256": False, **changes}))

    yield install
    use_settings(original)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b64json(value: Any) -> str:
    return b64(json.dumps(value).encode())


def hmac_token(header: Any, claims: Any, key: bytes) -> str:
    signing_input = f"{b64json(header)}.{b64json(claims)}"
    return f"{signing_input}.{b64(hmac.new(key, signing_input.encode(), hashlib.sha256).digest())}"


def crafted(provider: IdentityProvider, kid: str, *, header: dict[str, Any] | None = None,
            **claims: Any) -> str:
    """A token signed by the provider's key `kid` whose header and claims say anything: the
    provider's usual claims, those given over them (None: left out)."""
    algorithm = "ES256" if kid.startswith("es256") else "RS256"
    now = int(time.time())
    payload = {"iss": provider.issuer, "aud": AUDIENCE, "iat": now, "exp": now + 600, **claims}
    return provider.sign(kid, {"alg": algorithm, "typ": "JWT", "kid": kid, **(header or {})},
                         {name: value for name, value in payload.items() if value is not None})


def me(client: Any, token: str) -> Any:
    return send(client, "GET", "/api/me", theme=THEME,
                headers={"Authorization": f"Bearer {token}"})


def accepted(client: Any, token: str, user_id: int) -> bool:
    response = me(client, token)
    return response.status_code == 200 and response.get_json()["id"] == user_id


def refuse_all(client: Any, tokens: dict[str, str], *, status: int = 401,
               code: str = "unauthorized") -> None:
    failures: list[str] = []
    for kind, token in tokens.items():
        failures += error_failures(me(client, token), status, code, context=kind)
    assert not failures, "\n".join(failures)


# ---- malformed tokens and algorithm confusion ----------------------------------------------


def test_malformed_tokens_are_401_and_fetch_nothing(
        client: Any, provider: IdentityProvider, keys: dict[str, str], trust: Install) -> None:
    trust(jwt_jwks_cooldown_seconds=0)
    user = new_user_id()
    good = provider.token(keys["rsa"], sub=str(user), aud=AUDIENCE)
    assert accepted(client, good, user)  # the provider's set is held from here on
    head, body, signature = good.split(".")
    rs256 = {"alg": "RS256", "kid": keys["rsa"]}
    before, fetches = footprint(user, media=False), provider.fetches
    refuse_all(client, {
        "one part": head,
        "two parts": f"{head}.{body}",
        "four parts": f"{good}.{signature}",
        "empty parts": "..",
        "header not base64": f"!!!.{body}.{signature}",
        "header not JSON": f"{b64(b'{alg: RS256')}.{body}.{signature}",
        "header a list": f"{b64json([rs256])}.{body}.{signature}",
        "header a string": f"{b64json('RS256')}.{body}.{signature}",
        "header null": f"{b64json(None)}.{body}.{signature}",
        "header with NUL": f"{b64(json.dumps(rs256).encode() + bytes(1))}.{body}.{signature}",
        "header in UTF-16": f"{b64(json.dumps(rs256).encode('utf-16'))}.{body}.{signature}",
        "payload not JSON": f"{head}.{b64(b'sub=1')}.{signature}",
        "payload a list": f"{head}.{b64json([{'sub': str(user)}])}.{signature}",
        "payload a number": f"{head}.{b64json(user)}.{signature}",
        "signature not base64": f"{head}.{body}.@@@",
        "signature cut short": f"{head}.{body}.{signature[:-8]}",
        "signature empty": f"{head}.{body}.",
        "signature doubled": f"{head}.{body}.{signature}{signature}",
        "padded base64": f"{head}==.{body}.{signature}",
        "standard base64 alphabet": good.replace("-", "+").replace("_", "/"),
        "whitespace inside": f"{head}. {body}.{signature}",
        "1 MB payload": f"{head}.{'A' * 1_000_000}.{signature}",
        "deeply nested header": f"{b64(NESTED)}.{body}.{signature}",
    })
    assert provider.fetches == fetches  # refused from the token alone
    assert_unchanged(before, footprint(user, media=False), "malformed provider tokens")
    assert accepted(client, good, user)  # and the well-formed one still does


def test_algorithm_confusion_is_401_and_fetches_nothing(
        client: Any, provider: IdentityProvider, keys: dict[str, str], trust: Install) -> None:
    trust(jwt_jwks_cooldown_seconds=0)
    user = new_user_id()
    assert accepted(client, provider.token(keys["rsa"], sub=str(user), aud=AUDIENCE), user)
    claims = {"sub": str(user), "iss": provider.issuer, "aud": AUDIENCE,
              "exp": int(time.time()) + 600}
    rsa_pem, ec_pem = provider.public_pem(keys["rsa"]), provider.public_pem(keys["ec"])
    jwk = json.dumps(provider.jwks()["keys"][0]).encode()
    unsigned = f"{b64json(claims)}."
    signer = serialization.load_pem_public_key(provider.public_pem(keys["unpublished"]))
    assert isinstance(signer, rsa.RSAPublicKey)
    before, fetches = footprint(user, media=False), provider.fetches
    refuse_all(client, {
        "alg none": f"{b64json({'alg': 'none', 'kid': keys['rsa']})}.{unsigned}",
        "alg None": f"{b64json({'alg': 'None', 'kid': keys['rsa']})}.{unsigned}",
        "alg NONE, signed": hmac_token({"alg": "NONE", "kid": keys["rsa"]}, claims, b"k"),
        "no alg": hmac_token({"kid": keys["rsa"]}, claims, rsa_pem),
        "alg null": hmac_token({"alg": None, "kid": keys["rsa"]}, claims, rsa_pem),
        "alg a list": hmac_token({"alg": ["RS256"], "kid": keys["rsa"]}, claims, rsa_pem),
        "alg an object": hmac_token({"alg": {"RS256": True}, "kid": keys["rsa"]}, claims,
                                    rsa_pem),
        "alg a list, real signature": crafted(provider, keys["rsa"], sub=str(user),
                                              header={"alg": ["RS256"]}),
        "HS256 keyed with the RSA public key (PEM)":
            hmac_token({"alg": "HS256", "kid": keys["rsa"]}, claims, rsa_pem),
        "HS256 keyed with the EC public key (PEM)":
            hmac_token({"alg": "HS256", "kid": keys["ec"]}, claims, ec_pem),
        "HS256 keyed with the RSA public key (DER)": hmac_token(
            {"alg": "HS256", "kid": keys["rsa"]}, claims,
            serialization.load_pem_public_key(rsa_pem).public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)),
        "HS256 keyed with the JWK's JSON":
            hmac_token({"alg": "HS256", "kid": keys["rsa"]}, claims, jwk),
        "HS256 with the service's own secret": make_token(user, iss=provider.issuer,
                                                          aud=AUDIENCE),
        "HS512 keyed with the RSA public key":
            hmac_token({"alg": "HS512", "kid": keys["rsa"]}, claims, rsa_pem),
        "PS256 named": hmac_token({"alg": "PS256", "kid": keys["rsa"]}, claims, rsa_pem),
        "EdDSA named": hmac_token({"alg": "EdDSA", "kid": keys["ec"]}, claims, ec_pem),
        "RS512 by the RSA key": provider.token(keys["rsa"], sub=str(user), aud=AUDIENCE,
                                               headers={"alg": "RS512"}),
        "ES384 named on the EC key": hmac_token({"alg": "ES384", "kid": keys["ec"]}, claims,
                                                ec_pem),
        "rs256 in lower case": crafted(provider, keys["rsa"], sub=str(user),
                                       header={"alg": "rs256"}),
        # RS vs ES: a real signature, the token naming the other key (or the other alg)
        "RS256 token naming the EC key": provider.token(
            keys["rsa"], sub=str(user), aud=AUDIENCE, headers={"kid": keys["ec"]}),
        "ES256 token naming the RSA key": provider.token(
            keys["ec"], sub=str(user), aud=AUDIENCE, headers={"kid": keys["rsa"]}),
        "ES256 signature, header says RS256": crafted(provider, keys["ec"], sub=str(user),
                                                      header={"alg": "RS256"}),
        "RS256 signature, header says ES256": crafted(provider, keys["rsa"], sub=str(user),
                                                      header={"alg": "ES256"}),
        "embedded jwk of the signer": provider.token(
            keys["unpublished"], sub=str(user), aud=AUDIENCE,
            headers={"kid": keys["rsa"], "jwk": RSAAlgorithm.to_jwk(signer, as_dict=True)}),
    })
    assert provider.fetches == fetches  # no alg outside RS256/ES256 looks a key up
    assert_unchanged(before, footprint(user, media=False), "algorithm confusion")


# ---- claims ---------------------------------------------------------------------------------


def test_wrong_issuer_audience_and_times_are_401_and_create_no_user(
        client: Any, provider: IdentityProvider, keys: dict[str, str], trust: Install) -> None:
    trust(jwt_jwks_cooldown_seconds=0)
    user = new_user_id()
    rsa, ec = keys["rsa"], keys["ec"]
    now = int(time.time())

    def token(kid: str = rsa, **claims: Any) -> str:
        return crafted(provider, kid, **{"sub": str(user), **claims})

    before = footprint(user, media=False)
    refuse_all(client, {
        "another issuer": token(iss="https://evil.example/"),
        "issuer without its trailing slash": token(iss=provider.issuer.rstrip("/")),
        "issuer in upper case": token(iss=provider.issuer.upper()),
        "issuer a list": token(iss=[provider.issuer]),
        "issuer null": token(iss=None),
        "another audience": token(aud="another-app"),
        "audience in upper case": token(aud=AUDIENCE.upper()),
        "audience a prefix": token(aud=AUDIENCE[:-1]),
        "audience list without ours": token(aud=["another-app", "admin"]),
        "audience an object": token(aud={"aud": AUDIENCE}),
        "no audience": token(aud=None),
        "expired": token(ec, exp=now - 10),
        "expired long ago": token(exp=now - 10 * 365 * 86400),
        "no exp": token(exp=None),
        "exp a string": token(exp=str(now + 600)),
        "exp a list": token(exp=[now + 600]),
        "exp true": token(exp=True),
        "exp NaN": token(exp=float("nan")),
        "exp -Infinity": token(exp=float("-inf")),
        "not valid yet (nbf)": token(nbf=now + 3600),
        "nbf a string": token(nbf="soon"),
        "issued in the future (iat)": token(iat=now + 3600),
        "iat a string": token(iat="now"),
        "no sub": token(sub=None),
        "sub not a user id": token(sub="auth0|65f0c2"),
        "sub an integer": token(sub=user),
        "sub with leading zeros": token(sub=f"00{user}"),
        "sub beyond bigint": token(sub="9" * 19),
    })
    assert_unchanged(before, footprint(user, media=False), "bad provider claims")


def test_exp_beyond_any_date_is_not_a_500(client: Any, provider: IdentityProvider,
                                          keys: dict[str, str], trust: Install) -> None:
    """Absurd expiries are a 401 or (a real signature, a far future) a 200; never a 500."""
    trust(jwt_jwks_cooldown_seconds=0)
    for exp in (10**20, 1e308, float("inf")):
        user = new_user_id()
        response = me(client, crafted(provider, keys["rsa"], sub=str(user), exp=exp))
        assert response.status_code in (200, 401), (exp, response.data[:300])
        if response.status_code == 401:
            assert_error(response, 401, "unauthorized", context=exp)


# ---- kid injection ----------------------------------------------------------------------------


KIDS: dict[str, Any] = {
    "path traversal": "../../../../etc/passwd",
    "path traversal to the JWKS": "../.well-known/jwks.json",
    "URL": "http://169.254.169.254/latest/meta-data/",
    "SQL": "x' OR '1'='1",
    "shell": "$(touch /tmp/pwned)",
    "NUL": "rs256\x00",
    "CRLF": "key\r\nX-Injected: 1",
    "unicode": "ключ-🔑",
    "right-to-left override": "\u202egnp.exe",
    "format string": "%s%s%s%n",
    "just over the longest": "k" * 257,
    "huge": "k" * 100_000,
    "empty": "",
    "an integer": 1,
    "a list": ["rs256"],
    "an object": {"kid": "rs256"},
    "true": True,
}


def test_kid_injection_is_refused_with_the_error_shape(
        client: Any, provider: IdentityProvider, keys: dict[str, str], trust: Install) -> None:
    trust(jwt_jwks_cooldown_seconds=0)
    user = new_user_id()
    before = footprint(user, media=False)
    for kind, kid in KIDS.items():
        fetches = provider.fetches
        # Signed by the provider's own (published) key: only the kid is the attack.
        token = crafted(provider, keys["rsa"], sub=str(user), header={"kid": kid})
        assert_error(me(client, token), 401, "unauthorized", context=kind)
        looked_up = isinstance(kid, str) and 0 < len(kid) <= 256
        # A string of a kid's length costs one fetch (a rotated key looks the same); any other
        # is refused from the token alone.
        assert provider.fetches - fetches == (1 if looked_up else 0), kind
    assert_unchanged(before, footprint(user, media=False), "kid injection")


# ---- another user's id, replays ---------------------------------------------------------------


def test_another_users_id_signed_by_another_key_set_is_401(
        client: Any, provider: IdentityProvider, impostor: IdentityProvider,
        keys: dict[str, str], trust: Install) -> None:
    trust(jwt_jwks_cooldown_seconds=0)
    victim, attacker = new_user_id(), new_user_id()
    assert accepted(client, provider.token(keys["rsa"], sub=str(victim), aud=AUDIENCE), victim)
    own = provider.token(keys["rsa"], sub=str(attacker), aud=AUDIENCE)
    assert accepted(client, own, attacker)
    head, _, signature = own.split(".")
    swapped_body = provider.token(keys["rsa"], sub=str(victim), aud=AUDIENCE).split(".")[1]
    as_provider: dict[str, Any] = {"iss": provider.issuer, "aud": AUDIENCE, "sub": str(victim)}
    before = footprint(victim, attacker, media=False)
    refuse_all(client, {
        "sub swapped under the attacker's signature": f"{head}.{swapped_body}.{signature}",
        "the impostor's key, its own kid": impostor.token(keys["impostor rsa"], **as_provider),
        "the impostor's EC key, its own kid": impostor.token(keys["impostor ec"],
                                                             **as_provider),
        "the impostor's key, the provider's kid": impostor.token(
            keys["impostor rsa"], **as_provider, headers={"kid": keys["rsa"]}),
        "the impostor's EC key, the provider's EC kid": impostor.token(
            keys["impostor ec"], **as_provider, headers={"kid": keys["ec"]}),
        "the impostor as itself": impostor.token(keys["impostor rsa"], sub=str(victim),
                                                 aud=AUDIENCE),
        "the impostor's key, jku to its set": impostor.token(
            keys["impostor rsa"], **as_provider, headers={"jku": impostor.jwks_url}),
        "a key the provider holds but never published": provider.token(
            keys["unpublished"], sub=str(victim), aud=AUDIENCE),
    })
    assert impostor.fetches == 0  # its set is never asked for
    assert_unchanged(before, footprint(victim, attacker, media=False), "sub swap")


def test_an_expired_token_replayed_is_401_though_it_was_accepted(
        client: Any, provider: IdentityProvider, keys: dict[str, str], trust: Install) -> None:
    """A verified token is remembered (api/auth.py); its expiry is checked on each use all the
    same, so a token that worked is refused the moment it expires, and stays refused."""
    trust(jwt_jwks_cooldown_seconds=0)
    user = new_user_id()
    token = provider.token(keys["ec"], sub=str(user), aud=AUDIENCE, expires_in=2)
    assert accepted(client, token, user)
    deadline = time.monotonic() + 10
    while accepted(client, token, user):
        assert time.monotonic() < deadline, "an expired token is still accepted"
        time.sleep(0.1)
    for _ in range(20):
        assert_error(me(client, token), 401, "unauthorized", context="replay")


# ---- floods -----------------------------------------------------------------------------------


def test_a_flood_of_unknown_kids_is_one_fetch_per_cooldown_and_never_a_500(
        app: Any, provider: IdentityProvider, keys: dict[str, str], trust: Install) -> None:
    cooldown = 1.0
    trust(jwt_jwks_cooldown_seconds=cooldown)
    user = new_user_id()
    good = provider.token(keys["rsa"], sub=str(user), aud=AUDIENCE)
    client = app.test_client()
    assert accepted(client, good, user)  # the set is held: its first fetch
    flooder = new_user_id()
    before = footprint(user, flooder, media=False)
    fetches, started = provider.fetches, time.monotonic()

    def attack(n: int) -> tuple[int, list[str]]:
        own_client = app.test_client()
        token = provider.token(keys["unpublished"], sub=str(flooder), aud=AUDIENCE,
                               headers={"kid": f"made-up-{n}-{uuid.uuid4().hex}"})
        response = me(own_client, token)
        status = response.status_code
        failures = error_failures(response, status, context=n) if status in (401, 503) \
            else [f"{n}: {status} {response.data[:200]!r}"]
        if status == 503 and not 1 <= int(response.headers.get("Retry-After", "0")) \
                <= cooldown + 1:
            failures.append(f"{n}: 503 with Retry-After {response.headers.get('Retry-After')}")
        return status, failures

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(attack, range(600)))
    elapsed = time.monotonic() - started

    failures = [failure for _, statuses in answers for failure in statuses]
    assert not failures, "\n".join(failures[:10])
    statuses = {status for status, _ in answers}
    assert 503 in statuses, statuses  # inside the cooldown: nothing to look up with
    assert provider.fetches - fetches <= elapsed / cooldown + 1, \
        (provider.fetches - fetches, elapsed)
    assert accepted(client, good, user)  # the real user is not locked out by it
    assert_unchanged(before, footprint(user, flooder, media=False), "unknown kid flood")
