"""Absurd query strings on every listing route, and absurd JSON bodies on every JSON route:
400 with the offending parameter or field named, never a 500, nothing charged or stored."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.domain import funded_user, make_job, signed_url, stored_upload
from tests.support.errors import assert_error
from tests.support.hostile import assert_unchanged, footprint, send
from tests.support.routes import path_of, route_methods
from tests.support.users import auth, new_user_id

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")


def admin_headers() -> dict[str, str]:
    """A fresh operator per request, so no operator-wide rate limit can turn a 400 into a 429."""
    return auth(new_user_id(), role="admin")


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


# ---- listing routes --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def listing_routes(app: Any) -> list[str]:
    """Every GET /api route without path parameters that answers `{data, nextCursor}`."""
    client = app.test_client()
    found = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/") and not rule.arguments and "GET" in rule.methods:
            response = client.get(rule.rule, headers=admin_headers() if "/admin/" in rule.rule
                                  else auth(new_user_id()))
            body = response.get_json(silent=True)
            if response.status_code == 200 and isinstance(body, dict) and "nextCursor" in body:
                found.append(rule.rule)
    assert {"/api/headshots/history", "/api/credits/history"} <= set(found), found
    return sorted(found)


def _caller(route: str, user_id: int) -> dict[str, str]:
    """An operator's route answers a user's token 403 before it reads the query."""
    return admin_headers() if "/admin/" in route else auth(user_id)


# Parameters of particular listing routes, besides `limit` and `cursor` that all of them take.
FILTERS = {
    "/api/headshots/history": ("status", "style", "favorite"),
    "/api/headshots/favorites": ("status", "style"),
    "/api/credits/history": ("type",),
}

ALWAYS_400: dict[str, list[str]] = {
    "limit": ["-1", "0", "101", "1000000000", "1e3", "0x10", " 5", "5 ", "５", "٥", "", "abc",
              "5.0", "5.5", "+5", "1_0", "nan", "inf", "true", "null", "9" * 400, "%00",
              "5%00", "😀", "[5]"],
    "cursor": ["garbage!", "A" * 300, "A" * 100_000, "%00", _b64("id:-1"), _b64("id:١٢٣"),
               _b64("id:５"), _b64("id:" + "9" * 30), _b64("id:5\x00"), _b64("id: 5"),
               _b64("id:1e3"), _b64("page:5"), "id:5", "😀", "\u202e", _b64("\xff\xfe")],
    "status": ["done", "QUEUED", "queued ", "queued%00", "' OR 1=1--", "😀", "%00", "x" * 5000],
    "style": ["x" * 51, "%00", "corporate%00", "\U0001f4bc" * 60],
    "favorite": ["maybe", "2", "truee", "😀", "%00", "-1"],
    "type": ["bonus", "HEADSHOT", "grant%00", "😀", "' OR ''='"],
}


def _query_cases(routes: list[str]) -> list[tuple[str, str, str]]:
    cases = []
    for route in routes:
        names = ("limit", "cursor", *FILTERS.get(route, ()))
        for name in names:
            cases += [(route, name, value) for value in ALWAYS_400[name]]
    return cases


def test_absurd_query_parameters_are_400_on_every_listing_route(client: Any,
                                                               listing_routes: list[str]
                                                               ) -> None:
    user_id = funded_user(3)
    make_job(user_id, stored_upload(user_id), "completed")
    before = footprint(user_id)
    failures: list[str] = []
    for route, name, value in _query_cases(listing_routes):
        query = f"{name}={value}"
        response = send(client, "get", f"{route}?{query}", theme="queries",
                        headers=_caller(route, user_id))
        try:
            assert_error(response, 400, field=name, context=f"{route}?{query[:80]}")
        except AssertionError as problem:
            failures.append(str(problem).splitlines()[0][:300])
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures)
    assert_unchanged(before, footprint(user_id), "queries")


REPEATED = {
    "limit twice": "limit=5&limit=500",
    "limit twice, same value": "limit=5&limit=5",
    "cursor twice": f"cursor={_b64('id:5')}&cursor={_b64('id:9')}",
    "status twice": "status=queued&status=failed",
    "type twice": "type=grant&type=refund",
    "favorite twice": "favorite=true&favorite=false",
    "limit as an array": "limit[]=5",
}


@pytest.mark.parametrize("kind", list(REPEATED))
def test_repeated_parameters_are_400_not_silently_one_of_them(client: Any,
                                                              listing_routes: list[str],
                                                              kind: str) -> None:
    query = REPEATED[kind]
    name = query.split("=")[0].removesuffix("[]")
    routes = [route for route in listing_routes
              if name in ("limit", "cursor", *FILTERS.get(route, ()))]
    user_id = funded_user(0)
    failures: list[str] = []
    for route in routes:
        response = send(client, "get", f"{route}?{query}", theme="queries",
                        headers=_caller(route, user_id))
        if kind == "limit as an array":  # an unknown parameter: ignored, default limit
            if response.status_code != 200:
                failures.append(f"{route}?{query}: {response.status_code}")
            continue
        try:
            assert_error(response, 400, field=name, context=f"{route}?{query}")
        except AssertionError as problem:
            failures.append(str(problem).splitlines()[0])
    assert not failures, "\n".join(failures)


def test_another_users_cursor_shows_only_your_own_items(client: Any,
                                                       victim: dict[str, Any]) -> None:
    """A cursor is a position, not a capability: someone else's gives your own page."""
    mine = funded_user(3)
    own_job = make_job(mine, stored_upload(mine), "completed")
    theirs = client.get("/api/headshots/history?limit=1", headers=auth(victim["user_id"]))
    cursor = theirs.get_json()["nextCursor"]
    assert cursor
    response = send(client, "get", f"/api/headshots/history?cursor={cursor}", theme="queries",
                    headers=auth(mine))
    assert response.status_code == 200
    ids = [item["id"] for item in response.get_json()["data"]]
    victim_ids = {victim[kind]["id"] for kind in ("queued", "completed", "failed")}
    assert not victim_ids & set(ids)
    assert set(ids) <= {own_job["id"]}


# ---- JSON bodies -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def json_routes(app: Any) -> list[tuple[str, str]]:
    """Every /api write route that reads a JSON object body (it answers `{}` with a 400)."""
    client = app.test_client()
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or rule.rule == "/api/uploads":
            continue
        for method in route_methods(rule):
            if method in ("GET", "DELETE"):
                continue
            path = path_of(rule, {name: str(new_user_id()) for name in rule.arguments})
            headers = admin_headers() if "/admin/" in rule.rule else auth(new_user_id())
            response = client.open(path, method=method, headers=headers, json={})
            if response.status_code == 400:
                found.append((method, rule.rule))
    assert ("POST", "/api/headshots/generate") in found, found
    return sorted(found)


# Deep enough to recurse past any parser's patience, short enough for the smallest JSON route's
# body limit (4 KiB): the refusal must be the nesting's, not the length's.
DEEP = 1000
# name -> (raw body, content type)
BAD_BODIES: dict[str, tuple[Callable[[], bytes], str | None]] = {
    "array": (lambda: b"[]", "application/json"),
    "array of an object": (lambda: b'[{"style": "corporate"}]', "application/json"),
    "string": (lambda: b'"corporate"', "application/json"),
    "number": (lambda: b"42", "application/json"),
    "null": (lambda: b"null", "application/json"),
    "true": (lambda: b"true", "application/json"),
    "empty": (lambda: b"", "application/json"),
    "whitespace": (lambda: b"  \n ", "application/json"),
    "unclosed": (lambda: b'{"style": "corporate"', "application/json"),
    "trailing garbage": (lambda: b'{"style": "corporate"} x', "application/json"),
    "two objects": (lambda: b'{"style": "a"}{"style": "b"}', "application/json"),
    "single quotes": (lambda: b"{'style': 'corporate'}", "application/json"),
    "1k nested arrays": (lambda: b"[" * DEEP + b"]" * DEEP, "application/json"),
    "500 nested objects": (lambda: b'{"a":' * (DEEP // 2) + b"1" + b"}" * (DEEP // 2),
                           "application/json"),
    "nested 500 deep inside two fields": (
        lambda: b'{"imageUrl": ' + b"[" * (DEEP // 2) + b"]" * (DEEP // 2)
                + b', "style": "corporate", "amount": ' + b"[" * (DEEP // 2)
                + b"]" * (DEEP // 2) + b"}", "application/json"),
    "invalid UTF-8": (lambda: b'{"style": "\xff\xfe\xc0\xaf", "reason": "\xff"}',
                      "application/json"),
    "UTF-8 BOM then an array": (lambda: b"\xef\xbb\xbf[]", "application/json"),
    "NaN": (lambda: b'{"amount": NaN, "imageUrl": NaN, "style": NaN}', "application/json"),
    "Infinity": (lambda: b'{"amount": Infinity, "style": -Infinity}', "application/json"),
    "number with 3000 digits": (lambda: b'{"amount": ' + b"9" * 3000 + b"}",
                                "application/json"),
    "1e999": (lambda: b'{"amount": 1e999, "style": 1e999}', "application/json"),
    "300 keys": (lambda: json.dumps({f"k{i}": i for i in range(300)}).encode(),
                 "application/json"),
    "JSON as text/plain": (lambda: b'{"style": "corporate", "amount": 5, "reason": "x"}',
                           "text/plain"),
    "JSON as form data": (lambda: b'{"style": "corporate", "amount": 5, "reason": "x"}',
                          "application/x-www-form-urlencoded"),
    "JSON without a content type": (lambda: b'{"style": "corporate", "amount": 5}', None),
    "JSON as multipart": (lambda: b'{"style": "corporate"}', "multipart/form-data; boundary=x"),
}


@pytest.mark.parametrize("kind", list(BAD_BODIES))
def test_bad_json_bodies_are_400_on_every_json_route(client: Any,
                                                     json_routes: list[tuple[str, str]],
                                                     kind: str) -> None:
    make, content_type = BAD_BODIES[kind]
    user_id = funded_user(5)
    target = new_user_id()
    before = footprint(user_id, target)
    raw = make()
    failures: list[str] = []
    for method, rule_text in json_routes:
        rule = next(r for r in client.application.url_map.iter_rules() if r.rule == rule_text)
        path = path_of(rule, {name: str(target) for name in rule.arguments})
        headers = admin_headers() if "/admin/" in rule_text else auth(user_id)
        kwargs: dict[str, Any] = {"data": raw, "headers": headers}
        if content_type:
            kwargs["content_type"] = content_type
        response = send(client, method, path, theme="bodies", **kwargs)
        try:
            assert_error(response, 400, context=f"{method} {rule_text}")
        except AssertionError as problem:
            failures.append(str(problem).splitlines()[0][:300])
    assert not failures, "\n".join(failures)
    assert_unchanged(before, footprint(user_id, target), kind)


# Larger than any JSON route reads (tests/hostile/test_body_limits.py checks each route's own).
LARGE_BODIES: dict[str, Callable[[], bytes]] = {
    "a 1 MB key": lambda: b'{"' + b"k" * 1_000_000 + b'": 1}',
    "100k keys": lambda: json.dumps({f"k{i}": i for i in range(100_000)}).encode(),
    "close to the upload limit": lambda: json.dumps(
        {"imageUrl": "x" * (10 * 1024 * 1024), "style": "corporate", "reason": ""}).encode(),
    "over the upload limit": lambda: json.dumps(
        {"imageUrl": "x" * (11 * 1024 * 1024), "style": "corporate"}).encode(),
}


@pytest.mark.parametrize("kind", list(LARGE_BODIES))
def test_large_bodies_are_413_on_every_json_route(client: Any,
                                                  json_routes: list[tuple[str, str]],
                                                  kind: str) -> None:
    user_id = funded_user(5)
    target = new_user_id()
    before = footprint(user_id, target)
    raw = LARGE_BODIES[kind]()
    failures: list[str] = []
    for method, rule_text in json_routes:
        rule = next(r for r in client.application.url_map.iter_rules() if r.rule == rule_text)
        path = path_of(rule, {name: str(target) for name in rule.arguments})
        headers = admin_headers() if "/admin/" in rule_text else auth(user_id)
        response = send(client, method, path, theme="bodies", headers=headers, data=raw,
                        content_type="application/json")
        try:
            assert_error(response, 413, "body_too_large", context=f"{method} {rule_text}")
        except AssertionError as problem:
            failures.append(str(problem).splitlines()[0][:300])
    assert not failures, "\n".join(failures)
    assert_unchanged(before, footprint(user_id, target), kind)


# ---- generate: fields with hostile values ----------------------------------------------------


@pytest.fixture
def funded_with_url() -> tuple[int, str]:
    user_id = funded_user(5)
    return user_id, signed_url(stored_upload(user_id))


GENERATE_FIELDS: dict[str, tuple[str, Any]] = {
    # style
    "style SQL": ("style", "corporate'; DROP TABLE users;--"),
    "style emoji": ("style", "💼"),
    "style fullwidth": ("style", "ｃｏｒｐｏｒａｔｅ"),
    "style NUL": ("style", "corporate\u0000"),
    "style only NUL": ("style", "\u0000"),
    "style lone surrogate": ("style", "corporate\ud800"),
    "style upper case": ("style", "CORPORATE"),
    "style zero-width space": ("style", "corporate\u200b"),
    "style right-to-left override": ("style", "\u202eetaroproc"),
    "style traversal": ("style", "../corporate"),
    "style percent-encoded": ("style", "%63orporate"),
    "style empty": ("style", ""),
    "style 51 chars": ("style", "c" * 51),
    "style 5000 chars": ("style", "c" * 5000),  # longer: LARGE_BODIES
    "style number": ("style", 1),
    "style null": ("style", None),
    "style true": ("style", True),
    "style list": ("style", ["corporate"]),
    "style object": ("style", {"id": "corporate"}),
    # aspectRatio
    "ratio trailing space": ("aspectRatio", "1:1 "),
    "ratio slash": ("aspectRatio", "1/1"),
    "ratio empty": ("aspectRatio", ""),
    "ratio null": ("aspectRatio", None),
    "ratio number": ("aspectRatio", 1),
    "ratio float": ("aspectRatio", 1.0),
    "ratio true": ("aspectRatio", True),
    "ratio list": ("aspectRatio", ["1:1"]),
    "ratio object": ("aspectRatio", {"1:1": True}),
    "ratio fullwidth": ("aspectRatio", "１:１"),
    "ratio ratio sign": ("aspectRatio", "1∶1"),
    "ratio NUL": ("aspectRatio", "1:1\u0000"),
    "ratio 16:9": ("aspectRatio", "16:9"),
    "ratio 0:0": ("aspectRatio", "0:0"),
    "ratio negative": ("aspectRatio", "-1:1"),
    "ratio three parts": ("aspectRatio", "1:1:1"),
    "ratio lone surrogate": ("aspectRatio", "\ud800"),
}


@pytest.mark.parametrize("kind", list(GENERATE_FIELDS))
def test_hostile_generate_fields_are_400_and_charge_nothing(client: Any,
                                                            funded_with_url: tuple[int, str],
                                                            kind: str) -> None:
    user_id, url = funded_with_url
    field, value = GENERATE_FIELDS[kind]
    body = {"imageUrl": url, "style": "corporate", "aspectRatio": "1:1", field: value}
    before = footprint(user_id)
    raw = json.dumps(body, ensure_ascii=True).encode()  # lone surrogates as \ud800 escapes
    response = send(client, "post", "/api/headshots/generate", theme="bodies",
                    headers=auth(user_id), data=raw, content_type="application/json")
    assert_error(response, 400, field=field, context=kind)
    assert_unchanged(before, footprint(user_id), kind)


DUPLICATES: dict[str, tuple[str, bytes]] = {
    "style twice": ("/api/headshots/generate",
                    b'{"imageUrl": "URL", "style": "corporate", "style": "model"}'),
    "imageUrl twice": ("/api/headshots/generate",
                       b'{"imageUrl": "URL", "imageUrl": "http://evil.example/x.jpg", '
                       b'"style": "corporate"}'),
    "aspectRatio twice": ("/api/headshots/generate",
                          b'{"imageUrl": "URL", "style": "corporate", "aspectRatio": "1:1", '
                          b'"aspectRatio": "9:16"}'),
    "amount twice": ("/api/admin/users/TARGET/credits",
                     b'{"amount": 1, "amount": 1000000, "reason": "x"}'),
    "nested duplicate": ("/api/admin/users/TARGET/credits",
                         b'{"amount": 1, "reason": "x", "extra": {"a": 1, "a": 2}}'),
}


@pytest.mark.parametrize("kind", list(DUPLICATES))
def test_duplicate_keys_are_400(client: Any, funded_with_url: tuple[int, str], kind: str) -> None:
    """A proxy or log may read the first value and we the last: refuse the ambiguity."""
    user_id, url = funded_with_url
    target = new_user_id()
    path, raw = DUPLICATES[kind]
    headers = admin_headers() if "/admin/" in path else auth(user_id)
    before = footprint(user_id, target)
    response = send(client, "post", path.replace("TARGET", str(target)), theme="bodies",
                    headers=headers, content_type="application/json",
                    data=raw.replace(b"URL", url.encode()))
    assert_error(response, 400, context=kind)
    assert_unchanged(before, footprint(user_id, target), kind)


GRANT_FIELDS: dict[str, dict[str, Any]] = {
    "reason NUL": {"amount": 1, "reason": "x\u0000"},
    "reason lone surrogate": {"amount": 1, "reason": "\udfff"},
    "reason 2000 chars": {"amount": 1, "reason": "r" * 2000},
    "reason object": {"amount": 1, "reason": {"$ne": None}},
    "amount as a string of digits": {"amount": "5", "reason": "x"},
    "amount 5.5": {"amount": 5.5, "reason": "x"},
    "amount huge": {"amount": 2**63, "reason": "x"},
    "amount negative huge": {"amount": -(2**63), "reason": "x"},
    "amount list": {"amount": [5], "reason": "x"},
}


@pytest.mark.parametrize("kind", list(GRANT_FIELDS))
def test_hostile_grant_fields_are_400(client: Any, kind: str) -> None:
    target = new_user_id()
    before = footprint(target)
    raw = json.dumps(GRANT_FIELDS[kind], ensure_ascii=True).encode()
    response = send(client, "post", f"/api/admin/users/{target}/credits", theme="bodies",
                    headers=admin_headers(), data=raw, content_type="application/json")
    field = next(iter(GRANT_FIELDS[kind])) if kind.startswith("amount") else "reason"
    assert_error(response, 400, field=field, context=kind)
    assert_unchanged(before, footprint(target), kind)
