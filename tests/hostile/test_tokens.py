"""Bearer tokens (API guide §2): every bad one is a 401 on every protected route, walking
`app.url_map` so a route added later is covered without touching this file."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.support.errors import assert_error, error_failures
from tests.support.hostile import assert_unchanged, footprint, send, tried
from tests.support.routes import path_of, route_methods
from tests.support.users import TEST_JWT_SECRET, auth, make_token, new_user_id

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")

# /api routes that need no token (the contract's public share link, once there is one).
# A new public route must be added here on purpose; until then it is tested as protected.
# The signed stream's signature is its authorization (tests/hostile/test_signed_streams.py).
PUBLIC_API_RULES: set[str] = {"/api/headshots/status/<id:generation_id>/signed-stream"}
SECRET = TEST_JWT_SECRET.encode()


def protected_routes(app: Any) -> list[tuple[str, str]]:
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or rule.rule in PUBLIC_API_RULES:
            continue
        routes += [(method, path_of(rule)) for method in route_methods(rule)]
    return sorted(set(routes))


def admin_routes(app: Any) -> list[tuple[str, str]]:
    return [(method, path) for method, path in protected_routes(app)
            if path.startswith("/api/admin/")]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def raw_token(header: dict[str, Any], payload: dict[str, Any], key: bytes | None = SECRET,
              digest: Any = hashlib.sha256) -> str:
    """A JWT built by hand, so the header can say anything; HMAC-signed with `key` (or not)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    signature = b"" if key is None else hmac.new(key, signing_input.encode(), digest).digest()
    return f"{signing_input}.{_b64(signature)}"


def claims(user_id: int | str, **extra: Any) -> dict[str, Any]:
    return {"sub": str(user_id), "exp": int(time.time()) + 600, **extra}


def signed(payload: dict[str, Any]) -> str:
    """A token with a correct HS256 signature over whatever payload (the claims are the attack)."""
    return raw_token({"alg": "HS256", "typ": "JWT"}, payload)


HS256 = {"alg": "HS256", "typ": "JWT"}
ATTACKER_KEY = b"attacker-controlled-key"
# name -> Authorization header value, given a fresh user id
BAD_AUTHORIZATION: dict[str, Callable[[int], str]] = {
    # signatures
    "forged (wrong key)": lambda uid: f"Bearer {make_token(uid, secret='not-the-secret' * 3)}",
    "signature stripped": lambda uid: "Bearer " + make_token(uid).rsplit(".", 1)[0] + ".",
    "signature of another token": lambda uid: "Bearer " + make_token(uid).rsplit(".", 1)[0]
    + "." + make_token(uid + 1).rsplit(".", 1)[1],
    "HS256 with an empty key": lambda uid: "Bearer " + raw_token(HS256, claims(uid), b""),
    "alg none": lambda uid: "Bearer " + raw_token({"alg": "none"}, claims(uid), None),
    "alg None": lambda uid: "Bearer " + raw_token({"alg": "None"}, claims(uid), None),
    "alg NONE with a valid signature": lambda uid: "Bearer "
    + raw_token({"alg": "NONE"}, claims(uid)),
    "no alg": lambda uid: "Bearer " + raw_token({"typ": "JWT"}, claims(uid)),
    "RS256 header, HMAC with the secret": lambda uid: "Bearer "
    + raw_token({"alg": "RS256"}, claims(uid)),
    "ES256 header": lambda uid: "Bearer " + raw_token({"alg": "ES256"}, claims(uid)),
    "HS512 with the secret": lambda uid: "Bearer "
    + raw_token({"alg": "HS512"}, claims(uid), digest=hashlib.sha512),
    "HS384 with the secret": lambda uid: "Bearer "
    + raw_token({"alg": "HS384"}, claims(uid), digest=hashlib.sha384),
    "alg as a list": lambda uid: "Bearer " + raw_token({"alg": ["HS256"]}, claims(uid)),
    # key-selection header tricks, signed with a key the attacker controls
    "kid path traversal to /dev/null": lambda uid: "Bearer "
    + raw_token({**HS256, "kid": "../../../../../../dev/null"}, claims(uid), b""),
    "kid SQL injection": lambda uid: "Bearer "
    + raw_token({**HS256, "kid": "x' UNION SELECT 'k'--"}, claims(uid), b"k"),
    "jku to an attacker's JWKS": lambda uid: "Bearer "
    + raw_token({**HS256, "jku": "http://evil.example/jwks.json", "kid": "1"}, claims(uid),
                ATTACKER_KEY),
    "embedded jwk": lambda uid: "Bearer "
    + raw_token({**HS256, "jwk": {"kty": "oct", "k": _b64(ATTACKER_KEY)}}, claims(uid),
                ATTACKER_KEY),
    "x5u header": lambda uid: "Bearer "
    + raw_token({**HS256, "x5u": "http://evil.example/cert.pem"}, claims(uid), ATTACKER_KEY),
    # time claims
    "expired": lambda uid: f"Bearer {make_token(uid, expires_in=-10)}",
    "no exp": lambda uid: "Bearer " + signed({"sub": str(uid)}),
    "exp null": lambda uid: "Bearer " + signed({"sub": str(uid), "exp": None}),
    "exp as a string": lambda uid: "Bearer " + signed({"sub": str(uid), "exp": "9999999999"}),
    "exp as a list": lambda uid: "Bearer " + signed({"sub": str(uid), "exp": [9999999999]}),
    "not valid yet (nbf)": lambda uid: "Bearer " + signed(claims(uid, nbf=time.time() + 3600)),
    # sub
    "no sub": lambda uid: "Bearer " + signed({"exp": int(time.time()) + 600}),
    "sub null": lambda uid: "Bearer " + signed({**claims(uid), "sub": None}),
    "sub integer": lambda uid: "Bearer " + signed({**claims(uid), "sub": uid}),
    "sub float": lambda uid: "Bearer " + signed({**claims(uid), "sub": float(uid)}),
    "sub true": lambda uid: "Bearer " + signed({**claims(uid), "sub": True}),
    "sub list": lambda uid: "Bearer " + signed({**claims(uid), "sub": [str(uid)]}),
    "sub object": lambda uid: "Bearer " + signed({**claims(uid), "sub": {"id": str(uid)}}),
    "sub empty": lambda uid: "Bearer " + signed(claims("")),
    "sub leading zeros": lambda uid: "Bearer " + signed(claims(f"00{uid}")),
    "sub zero": lambda uid: "Bearer " + signed(claims("0")),
    "sub negative": lambda uid: "Bearer " + signed(claims(f"-{uid}")),
    "sub plus sign": lambda uid: "Bearer " + signed(claims(f"+{uid}")),
    "sub leading space": lambda uid: "Bearer " + signed(claims(f" {uid}")),
    "sub trailing newline": lambda uid: "Bearer " + signed(claims(f"{uid}\n")),
    "sub tab": lambda uid: "Bearer " + signed(claims(f"\t{uid}")),
    "sub arabic-indic digits": lambda uid: "Bearer " + signed(claims("١٢٣")),
    "sub fullwidth digits": lambda uid: "Bearer " + signed(claims("５４３２１")),
    "sub exponent": lambda uid: "Bearer " + signed(claims("1e3")),
    "sub hex": lambda uid: "Bearer " + signed(claims("0x10")),
    "sub underscores": lambda uid: "Bearer " + signed(claims("1_000")),
    "sub beyond bigint": lambda uid: "Bearer " + signed(claims("9" * 19)),
    "sub with NUL": lambda uid: "Bearer " + signed(claims(f"{uid}\x00")),
    "sub SQL": lambda uid: "Bearer " + signed(claims("1 OR 1=1")),
    # the header itself
    "100 KB of garbage": lambda uid: "Bearer " + "A" * 100_000,
    "100 KB three-part garbage": lambda uid: "Bearer " + ".".join(["eyJ" + "A" * 33_000] * 3),
    "two dots only": lambda uid: "Bearer ..",
    "four parts": lambda uid: f"Bearer {make_token(uid)}.AAAA",
    "non-ASCII token": lambda uid: "Bearer é.é.é",
    "lower-case bearer, forged": lambda uid: f"bearer {make_token(uid, secret='x' * 40)}",
    "Basic scheme with a valid token": lambda uid: f"Basic {make_token(uid)}",
    "scheme with a colon": lambda uid: f"Bearer: {make_token(uid)}",
    "tab after the scheme": lambda uid: f"Bearer\t{make_token(uid)}",
    "token then junk": lambda uid: f"Bearer {make_token(uid)} junk",
    "two tokens joined (as a proxy folds two headers)": lambda uid:
        f"Bearer {make_token(uid)},Bearer {make_token(uid, secret='x' * 40)}",
    "token without a scheme": lambda uid: make_token(uid),
    "empty bearer": lambda uid: "Bearer ",
}


@pytest.mark.parametrize("kind", list(BAD_AUTHORIZATION))
def test_bad_tokens_are_401_on_every_protected_route(app: Any, client: Any, kind: str) -> None:
    user_id = new_user_id()
    header = BAD_AUTHORIZATION[kind](user_id)
    before = footprint(user_id)
    failures: list[str] = []
    for method, path in protected_routes(app):
        response = send(client, method, path, theme="tokens",
                        headers={"Authorization": header}, json={})
        failures += error_failures(response, 401, "unauthorized", context=f"{method} {path}")
        if response.status_code == 401 and "Bearer" not in response.headers.get(
                "WWW-Authenticate", ""):
            failures.append(f"{method} {path}: 401 without a Bearer challenge")
    assert not failures, "\n".join(failures)
    assert_unchanged(before, footprint(user_id), kind)


def test_the_route_walk_sees_the_routes(app: Any) -> None:
    """Guard against the walk silently covering nothing."""
    paths = {path for _, path in protected_routes(app)}
    assert {"/api/me", "/api/uploads", "/api/headshots/generate",
            "/api/headshots/history/1"} <= paths


@pytest.mark.parametrize("where", ["query access_token", "cookie", "X-Authorization",
                                   "Proxy-Authorization"])
def test_a_valid_token_anywhere_but_authorization_is_401(app: Any, client: Any,
                                                        where: str) -> None:
    user_id = new_user_id()
    token = make_token(user_id)
    failures: list[str] = []
    before = footprint(user_id)
    for method, path in protected_routes(app):
        kwargs: dict[str, Any] = {"json": {}}
        if where == "query access_token":
            path = f"{path}?access_token={token}"
        elif where == "cookie":
            kwargs["headers"] = {"Cookie": f"access_token={token}; token={token}"}
        else:
            kwargs["headers"] = {where: f"Bearer {token}"}
        response = send(client, method, path, theme="tokens", **kwargs)
        failures += error_failures(response, 401, "unauthorized", context=f"{method} {path}")
    assert not failures, "\n".join(failures)
    assert_unchanged(before, footprint(user_id), where)


ROLE_TRICKS: dict[str, dict[str, Any]] = {
    "role ADMIN": {"role": "ADMIN"},
    "role with a space": {"role": "admin "},
    "role list": {"role": ["admin"]},
    "role object": {"role": {"admin": True}},
    "role true": {"role": True},
    "roles claim": {"roles": ["admin"]},
    "admin claim": {"admin": True, "is_admin": True},
    "role with NUL": {"role": "admin\x00"},
    "scope admin": {"scope": "admin"},
}


@pytest.mark.parametrize("kind", list(ROLE_TRICKS))
def test_role_tricks_are_403_on_every_admin_route(app: Any, client: Any, kind: str) -> None:
    user_id = new_user_id()
    header = "Bearer " + signed(claims(user_id, **ROLE_TRICKS[kind]))
    target = new_user_id()
    before = footprint(user_id, target)
    failures: list[str] = []
    for method, path in admin_routes(app):
        response = send(client, method, path.replace("/1/", f"/{target}/"), theme="tokens",
                        headers={"Authorization": header},
                        json={"amount": 5, "reason": "hostile", "userId": user_id})
        failures += error_failures(response, 403, "forbidden", context=f"{method} {path}")
    assert not failures, "\n".join(failures)
    assert admin_routes(app), "no admin routes found"
    assert_unchanged(before, footprint(user_id, target), kind)


def test_lower_case_bearer_scheme_is_the_same_scheme(client: Any) -> None:
    """RFC 7235 §2.1: the auth scheme is case-insensitive; a valid token works either way."""
    user_id = new_user_id()
    for scheme in ("bearer", "BEARER", "bEaReR"):
        response = send(client, "get", "/api/me", theme="tokens",
                        headers={"Authorization": f"{scheme} {make_token(user_id)}"})
        assert response.status_code == 200, response.data
        assert response.get_json()["id"] == user_id


def test_valid_token_email_claim_tricks_do_not_500(client: Any) -> None:
    """The email claim is stored: odd values are ignored or kept, never a 500."""
    for email in ["a\x00b@example.com", "x" * 10_000, 12345, ["a@b.c"], {"a": 1}, "ü@ß.de",
                  "'; DROP TABLE users; --"]:
        user_id = new_user_id()
        header = "Bearer " + signed(claims(user_id, email=email))
        response = send(client, "get", "/api/me", theme="tokens",
                        headers={"Authorization": header})
        assert response.status_code == 200, (email, response.data)
        stored = response.get_json()["email"]
        assert stored is None or (isinstance(stored, str) and "\x00" not in stored), email


# ---- over the real server: what only a real HTTP server can be sent --------------------------


def _raw_request(base: str, method: str, path: str, headers: list[tuple[str, str]],
                 body: bytes = b"") -> Any:
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    connection.putrequest(method, path, skip_accept_encoding=True)
    for name, value in headers:
        connection.putheader(name, value)
    connection.putheader("Content-Length", str(len(body)))
    connection.endheaders(body)
    try:
        return RawResponse(connection.getresponse())
    finally:
        connection.close()


class RawResponse:
    """An http.client response whose body was read before the connection closed."""

    def __init__(self, response: Any) -> None:
        self.status = response.status
        self._headers = response.getheaders()
        self._body = response.read()

    def getheaders(self) -> list[tuple[str, str]]:
        return self._headers

    def read(self) -> bytes:
        return bytes(self._body)


TWO_HEADERS: dict[str, Callable[[int, int], list[str]]] = {
    "valid then forged": lambda a, b: [make_token(a), make_token(a, secret="x" * 40)],
    "forged then valid": lambda a, b: [make_token(a, secret="x" * 40), make_token(a)],
    "two users' valid tokens": lambda a, b: [make_token(a), make_token(b)],
    "user then admin": lambda a, b: [make_token(a), make_token(b, role="admin")],
}


@pytest.mark.parametrize("kind", list(TWO_HEADERS))
def test_two_authorization_headers_are_401(web: str, kind: str) -> None:
    first, second = new_user_id(), new_user_id()
    before = footprint(first, second)
    tokens = TWO_HEADERS[kind](first, second)
    for method, path in [("GET", "/api/me"), ("GET", "/api/headshots/history"),
                         ("POST", "/api/admin/users/5/credits")]:
        tried("tokens")
        body = json.dumps({"amount": 5, "reason": "x"}).encode()
        response = _raw_request(web, method, path,
                                [("Authorization", f"Bearer {token}") for token in tokens]
                                + [("Content-Type", "application/json")], body)
        assert_error(response, 401, "unauthorized", context=(kind, path))
    assert_unchanged(before, footprint(first, second), kind)


@pytest.mark.parametrize("size", [8_000, 100_000])
def test_huge_authorization_header_over_the_real_server(web: str, size: int) -> None:
    """A 100 KB header must not crash anything; the answer is still the §3 error."""
    tried("tokens")
    before = footprint()
    response = _raw_request(web, "GET", "/api/me", [("Authorization", "Bearer " + "A" * size)])
    # 401 from the app, or 431 if the server refuses a header that long: either way §3 JSON.
    assert_error(response, 431 if response.status == 431 else 401, context=size)
    assert_unchanged(before, footprint(), size)
    assert_error(_raw_request(web, "GET", "/api/me", [("Authorization", "Bearer x")]),
                 401)  # and the server still answers


def test_an_authorization_header_with_the_right_user_is_accepted(web: str) -> None:
    """The control case of the live tests above."""
    user_id = new_user_id()
    response = _raw_request(web, "GET", "/api/me", [*auth(user_id).items()])
    assert response.status == 200
