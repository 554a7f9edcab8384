"""Bodies longer than their route reads (api/body_limits.py), and JSON the service cannot store.

- every operation states its limit (`x-max-body-bytes` in the OpenAPI document) and keeps to
  it: one byte over is the §3 413 `body_too_large`, and changes nothing; a body at the limit is
  read (whatever the route then answers, it is not a 413);
- over the real gunicorn, a refused body is not read: the 413 arrives while the client has sent
  a small part of what it announced (Content-Length) or is still sending (chunked), and the
  server then closes the connection;
- JSON nested too deep or with too many keys is a 400 naming the problem;
- numbers JSON allows but PostgreSQL cannot store (1e309, -1e309, NaN, Infinity, integers past
  64 bits) are a 400 naming the field, on every JSON route, and nothing is recorded.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import pytest

from api.openapi import build_document, openapi_path
from tests.support.domain import funded_user
from tests.support.errors import assert_error
from tests.support.hostile import assert_unchanged, footprint, send, tried
from tests.support.routes import path_of, route_methods
from tests.support.users import auth, new_user_id

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")
MiB = 1024 * 1024


def admin_headers() -> dict[str, str]:
    return auth(new_user_id(), role="admin")


def events_of(user_id: int) -> int:
    from sqlalchemy import func, select

    from models.events import Event
    from services.unit_of_work import unit_of_work

    with unit_of_work() as db_session:
        return int(db_session.scalar(select(func.count()).select_from(Event)
                                     .where(Event.user_id == user_id)) or 0)


def padded_json(size: int) -> bytes:
    """A JSON object of exactly `size` bytes (at least 10)."""
    return b'{"pad":"' + b"x" * (size - 10) + b'"}'


def operations(app: Any) -> list[tuple[str, Any, dict[str, Any]]]:
    """(method, Flask rule, its OpenAPI operation) for every documented route."""
    document = build_document(app)
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in route_methods(rule):
            found.append((method, rule,
                          document["paths"][openapi_path(rule.rule)][method.lower()]))
    return found


# ---- each route's limit, in-process ----------------------------------------------------------


def test_every_operation_states_a_limit_and_refuses_one_byte_more(client: Any) -> None:
    user_id = funded_user(5)
    target = new_user_id()
    before = footprint(user_id, target)
    events_before = events_of(user_id)
    failures: list[str] = []
    limits: dict[str, int] = {}
    for method, rule, operation in operations(client.application):
        limit = operation.get("x-max-body-bytes")
        if not isinstance(limit, int) or limit <= 0:
            failures.append(f"{method} {rule.rule}: no x-max-body-bytes")
            continue
        limits[f"{method} {rule.rule}"] = limit
        if "413" not in operation["responses"]:
            failures.append(f"{method} {rule.rule}: 413 not documented")
        path = path_of(rule, {name: str(target) for name in rule.arguments})
        headers = admin_headers() if "/admin/" in rule.rule else auth(user_id)
        response = send(client, method, path, theme="body limits", headers=headers,
                        data=padded_json(limit + 1), content_type="application/json")
        try:
            assert_error(response, 413, "body_too_large", context=f"{method} {rule.rule}")
            assert str(limit) in response.get_json()["error"]["message"]
        except AssertionError as problem:
            failures.append(str(problem).splitlines()[0][:300])
    assert not failures, "\n".join(failures)
    assert_unchanged(before, footprint(user_id, target), "one byte over")
    assert events_of(user_id) == events_before
    # Small JSON routes read kilobytes; only the upload reads megabytes.
    assert limits["POST /api/uploads"] > 10 * MiB
    assert max(limit for route, limit in limits.items() if route != "POST /api/uploads") \
        <= 64 * 1024, limits
    assert limits["POST /api/events"] <= 16 * 1024


def test_a_json_body_at_the_limit_is_read(client: Any) -> None:
    user_id = funded_user(5)
    for method, rule, operation in operations(client.application):
        if "requestBody" not in operation or "application/json" not in \
                operation["requestBody"]["content"]:
            continue
        path = path_of(rule, {name: str(new_user_id()) for name in rule.arguments})
        headers = admin_headers() if "/admin/" in rule.rule else auth(user_id)
        response = send(client, method, path, theme="body limits", headers=headers,
                        data=padded_json(operation["x-max-body-bytes"]),
                        content_type="application/json")
        # Read and validated (the padding is no field the route knows), then whatever the
        # route answers: not the refusal of its length.
        assert response.status_code != 413, (method, rule.rule, response.data)
        assert response.status_code < 500, (method, rule.rule, response.data)


# ---- over the real server: refused unread ----------------------------------------------------


def _head(base: str, path: str, user_id: int, framing: str) -> bytes:
    parts = urlsplit(base)
    return (f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Authorization: {auth(user_id)['Authorization']}\r\n"
            f"Content-Type: application/json\r\n{framing}\r\n").encode()


def _response_of(sock: socket.socket) -> tuple[bytes, bool]:
    """What the server sent until it closed the connection (or 30 s passed), and whether it
    closed it."""
    received = b""
    sock.settimeout(30)
    try:
        while data := sock.recv(65536):
            received += data
    except TimeoutError:
        return received, False
    except ConnectionResetError:
        pass
    return received, True


def _assert_413(received: bytes) -> None:
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 "), received[:300]
    assert b"content-type: application/json" in head.lower()
    assert json.loads(body)["error"]["code"] == "body_too_large"


def test_an_8_mb_event_is_refused_before_it_is_sent(web: str) -> None:
    """The head announces 8 MB; the client sends 64 KB of it and waits: the 413 comes, and the
    connection is closed, without the other 7.9 MB."""
    user_id = new_user_id()
    events_before = events_of(user_id)
    tried("body limits")
    announced = 8 * MiB
    start = b'{"event":"style_selected","pad":"'
    with socket.create_connection((urlsplit(web).hostname, urlsplit(web).port)) as sock:
        sock.sendall(_head(web, "/api/events", user_id, f"Content-Length: {announced}\r\n")
                     + start + b"x" * (64 * 1024))
        received, closed = _response_of(sock)
    _assert_413(received)
    assert closed, "the server kept the connection open, to read the rest of the body"
    assert events_of(user_id) == events_before


def test_a_chunked_body_is_cut_off_past_the_limit(web: str) -> None:
    """A chunked body of 64 KB chunks, never ending: the server answers 413 once past the
    route's limit and closes the connection, while the client is still sending."""
    user_id = new_user_id()
    events_before = events_of(user_id)
    tried("body limits")
    chunk = b"x" * (64 * 1024)
    sent = 0
    with socket.create_connection((urlsplit(web).hostname, urlsplit(web).port)) as sock:
        sock.sendall(_head(web, "/api/events", user_id, "Transfer-Encoding: chunked\r\n"))
        deadline = time.monotonic() + 30  # a liveness bound, not a measure of speed
        refused = False
        while time.monotonic() < deadline and sent < 64 * MiB:
            try:
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                refused = True
                break
            sent += len(chunk)
            sock.settimeout(0)
            try:
                if sock.recv(1, socket.MSG_PEEK):
                    refused = True
                    break
            except BlockingIOError:
                pass
            finally:
                sock.settimeout(None)
        assert refused, f"sent {sent} bytes and the server was still reading"
        received, closed = _response_of(sock)
    _assert_413(received)
    assert closed
    assert sent < 8 * MiB, sent  # stopped long before an 8 MB body went through
    assert events_of(user_id) == events_before


# ---- JSON the service refuses: shape, and numbers it cannot store ----------------------------


SHAPES: dict[str, tuple[bytes, str]] = {
    "9 levels deep": (b'{"event":"style_selected","properties":{"a":'
                      + b"[" * 8 + b"1" + b"]" * 8 + b"}}", "nested deeper than 8 levels"),
    "brackets inside strings do not count": (
        b'{"event":"style_selected","properties":{"a":"' + b"[" * 100 + b'"},"x":"a'
        + b"\\\"" + b'"}', "ACCEPTED"),
    "300 keys": (json.dumps({"event": "style_selected",
                             "properties": {f"k{i}": i for i in range(300)}}).encode(),
                 "more than 256 keys"),
}


@pytest.mark.parametrize("kind", list(SHAPES))
def test_json_too_deep_or_with_too_many_keys_is_400(client: Any, kind: str) -> None:
    raw, problem = SHAPES[kind]
    user_id = new_user_id()
    events_before = events_of(user_id)
    response = send(client, "post", "/api/events", theme="bodies", headers=auth(user_id),
                    data=raw, content_type="application/json")
    if problem == "ACCEPTED":
        assert response.status_code == 202, response.data
        return
    body = assert_error(response, 400, "invalid_request", context=kind)
    assert problem in body["error"]["message"], body
    assert events_of(user_id) == events_before


UNSTORABLE = {
    "1e309": b"1e309",
    "-1e309": b"-1e309",
    "1e400": b"1E400",
    "-1.5e999": b"-1.5e999",
    "NaN": b"NaN",
    "Infinity": b"Infinity",
    "-Infinity": b"-Infinity",
    "2^63": str(2**63).encode(),
    "-2^63-1": str(-(2**63) - 1).encode(),
    "a 3000-digit integer": b"9" * 3000,
}


@pytest.mark.parametrize("kind", list(UNSTORABLE))
def test_numbers_postgresql_cannot_store_are_400_naming_the_field(client: Any,
                                                                 kind: str) -> None:
    user_id = new_user_id()
    events_before = events_of(user_id)
    raw = b'{"event":"style_selected","properties":{"a":' + UNSTORABLE[kind] + b"}}"
    response = send(client, "post", "/api/events", theme="bodies", headers=auth(user_id),
                    data=raw, content_type="application/json")
    body = assert_error(response, 400, "invalid_request", context=kind)
    assert body["error"]["message"].startswith("properties.a: "), body
    assert events_of(user_id) == events_before


def test_the_largest_numbers_postgresql_stores_are_recorded(client: Any) -> None:
    user_id = new_user_id()
    raw = (b'{"event":"style_selected","properties":{"big":' + str(2**63 - 1).encode()
           + b',"small":' + str(-(2**63)).encode() + b',"max":1.7976931348623157e308}}')
    response = send(client, "post", "/api/events", theme="bodies", headers=auth(user_id),
                    data=raw, content_type="application/json")
    assert response.status_code == 202, response.data
    assert events_of(user_id) == 1


@pytest.fixture(scope="module")
def json_operations(app: Any) -> list[tuple[str, Any, str]]:
    """(method, rule, the first field of its body model) for every route taking a JSON body."""
    found = []
    document = build_document(app)
    for method, rule, operation in operations(app):
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" in content:
            model = content["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
            first = next(iter(document["components"]["schemas"][model]["properties"]))
            found.append((method, rule, first))
    assert len(found) >= 5, found
    return found


@pytest.mark.parametrize("number", ["1e309", "-1e309", "NaN", "2^63"])
def test_unstorable_numbers_are_400_on_every_json_route(client: Any,
                                                       json_operations: list[Any],
                                                       number: str) -> None:
    user_id = funded_user(5)
    target = new_user_id()
    before = footprint(user_id, target)
    failures = []
    for method, rule, field in json_operations:
        path = path_of(rule, {name: str(target) for name in rule.arguments})
        headers = admin_headers() if "/admin/" in rule.rule else auth(user_id)
        raw = b'{"' + field.encode() + b'":' + UNSTORABLE[number] + b"}"
        response = send(client, method, path, theme="bodies", headers=headers, data=raw,
                        content_type="application/json")
        try:
            body = assert_error(response, 400, "invalid_request",
                                context=f"{method} {rule.rule}")
            assert body["error"]["message"].startswith(f"{field}: "), body
        except AssertionError as problem:
            failures.append(str(problem).splitlines()[0][:300])
    assert not failures, "\n".join(failures)
    assert_unchanged(before, footprint(user_id, target), number)
