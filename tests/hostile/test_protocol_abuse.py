"""Broken HTTP framing of a request body (`Transfer-Encoding: chunked` with a bad chunk size, a
missing CRLF, a bad trailer...) on every route that reads a body: the §3 400, and the body
never reaches a service (nothing charged, granted or stored).

Only a real server sees raw framing, so these go to the real gunicorn over a socket. Each body
holds a request that would succeed if it were read (a funded user's valid generate, a real
selfie, a valid grant), so a 2xx or a charge would show that a broken body got through.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from tests.support.assets import SELFIE
from tests.support.domain import funded_user, make_job, signed_url, stored_upload
from tests.support.errors import assert_error
from tests.support.hostile import assert_unchanged, footprint, tried
from tests.support.users import auth, new_user_id

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")


@dataclass(frozen=True)
class RawResponse:
    """The first response on the connection, read whole (shaped like `http.client`'s)."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def getheaders(self) -> list[tuple[str, str]]:
        return self.headers

    def read(self) -> bytes:
        return self.body


def raw_exchange(base: str, head: bytes, body: bytes) -> RawResponse:
    """Send exactly these bytes as one request, and nothing after them: the write side is
    shut, so a body that stops short is cut short, not merely slow."""
    parts = urlsplit(base)
    with socket.create_connection((parts.hostname, parts.port), timeout=15) as sock:
        sock.sendall(head + body)
        # The server may have answered and closed first: its answer is still there to read.
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return RawResponse(response.status, response.getheaders(), response.read())


def request_head(base: str, method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {urlsplit(base).netloc}",
             *(f"{name}: {value}" for name, value in headers.items()), "", ""]
    return "\r\n".join(lines).encode()


# How a valid payload gets broken: payload -> the bytes after the headers.
def _size(payload: bytes) -> bytes:
    return f"{len(payload):x}".encode()


BROKEN_CHUNKS: dict[str, Callable[[bytes], bytes]] = {
    "chunk size zz": lambda p: b"zz\r\n" + p + b"\r\n0\r\n\r\n",
    "chunk size -1": lambda p: b"-1\r\n" + p + b"\r\n0\r\n\r\n",
    "chunk size 0x-prefixed": lambda p: b"0x" + _size(p) + b"\r\n" + p + b"\r\n0\r\n\r\n",
    "chunk size with a sign": lambda p: b"+" + _size(p) + b"\r\n" + p + b"\r\n0\r\n\r\n",
    "chunk size split by a space": lambda p: b"1 " + _size(p) + b"\r\n" + p + b"\r\n0\r\n\r\n",
    "empty chunk size": lambda p: b"\r\n" + p + b"\r\n0\r\n\r\n",
    "missing CRLF after the data": lambda p: _size(p) + b"\r\n" + p + b"0\r\n\r\n",
    "size shorter than the data": lambda p: b"2\r\n" + p + b"\r\n0\r\n\r\n",
    "bare LF after the size": lambda p: _size(p) + b"\n" + p + b"\r\n0\r\n\r\n",
    "NUL in a chunk extension": lambda p: _size(p) + b";x\x00y\r\n" + p + b"\r\n0\r\n\r\n",
    "valid chunk, then size zz": lambda p: _size(p) + b"\r\n" + p + b"\r\nzz\r\n\r\n",
    "valid chunk, then size -1": lambda p: _size(p) + b"\r\n" + p + b"\r\n-1\r\n\r\n",
    "last chunk without the final CRLF": lambda p: _size(p) + b"\r\n" + p + b"\r\n0\r\nX",
    "malformed trailer": lambda p: _size(p) + b"\r\n" + p + b"\r\n0\r\nno colon\r\n\r\n",
}


@dataclass(frozen=True)
class BodyRoute:
    method: str
    path: str
    headers: dict[str, str]
    payload: bytes
    owners: tuple[int, ...]  # whose footprint must not change


def _multipart(image: bytes) -> tuple[str, bytes]:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; "
            f"filename=\"me.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").encode() + image + \
        f"\r\n--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", body


def body_routes() -> dict[str, Callable[[], BodyRoute]]:
    """Each route that reads a body, with a payload it would accept (and charge for)."""
    def as_json(value: object) -> bytes:
        return json.dumps(value).encode()

    def generate() -> BodyRoute:
        user_id = funded_user(5)
        payload = as_json({"imageUrl": signed_url(stored_upload(user_id)), "style": "corporate"})
        return BodyRoute("POST", "/api/headshots/generate",
                         {**auth(user_id), "Content-Type": "application/json"}, payload,
                         (user_id,))

    def batch() -> BodyRoute:
        user_id = funded_user(5)
        payload = as_json({"imageUrl": signed_url(stored_upload(user_id)),
                           "styles": ["corporate", "creative"]})
        return BodyRoute("POST", "/api/headshots/batch",
                         {**auth(user_id), "Content-Type": "application/json"}, payload,
                         (user_id,))

    def upload() -> BodyRoute:
        user_id = funded_user(0)
        content_type, payload = _multipart(SELFIE.read_bytes())
        return BodyRoute("POST", "/api/uploads",
                         {**auth(user_id), "Content-Type": content_type}, payload, (user_id,))

    def grant() -> BodyRoute:
        operator, user_id = new_user_id(), funded_user(0)
        return BodyRoute("POST", f"/api/admin/users/{user_id}/credits",
                         {**auth(operator, role="admin"), "Content-Type": "application/json"},
                         as_json({"amount": 7, "reason": "hostile"}), (user_id, operator))

    def share() -> BodyRoute:
        user_id = funded_user(1)  # the job is charged when made
        job = make_job(user_id, stored_upload(user_id), "completed")
        return BodyRoute("POST", f"/api/headshots/{job['id']}/share",
                         {**auth(user_id), "Content-Type": "application/json"},
                         as_json({"expiresInHours": 1}), (user_id,))

    return {"generate": generate, "batch": batch, "upload": upload, "admin grant": grant,
            "share": share}


ROUTES = body_routes()


@pytest.mark.parametrize("route_name", list(ROUTES))
def test_the_control_case_goes_through(web: str, route_name: str) -> None:
    """The same payloads, well framed, succeed: the broken ones fail for their framing only."""
    route = ROUTES[route_name]()
    chunked = _size(route.payload) + b"\r\n" + route.payload + b"\r\n0\r\n\r\n"
    head = request_head(web, route.method, route.path,
                        {**route.headers, "Transfer-Encoding": "chunked", "Connection": "close"})
    answer = raw_exchange(web, head, chunked)
    assert 200 <= answer.status < 300, answer.body[:300]


@pytest.mark.parametrize("breakage", list(BROKEN_CHUNKS))
@pytest.mark.parametrize("route_name", list(ROUTES))
def test_broken_chunked_bodies_are_400_and_change_nothing(web: str, route_name: str,
                                                          breakage: str) -> None:
    tried("framing")
    route = ROUTES[route_name]()
    before = footprint(*route.owners)
    head = request_head(web, route.method, route.path,
                        {**route.headers, "Transfer-Encoding": "chunked", "Connection": "close"})
    answer = raw_exchange(web, head, BROKEN_CHUNKS[breakage](route.payload))
    assert_error(answer, 400, context=(route_name, breakage))
    assert_unchanged(before, footprint(*route.owners), (route_name, breakage))


def test_content_length_and_chunked_together_is_400(web: str) -> None:
    """Request smuggling's classic: both framings at once. Refused whole, nothing charged."""
    tried("framing")
    route = ROUTES["generate"]()
    before = footprint(*route.owners)
    framed = _size(route.payload) + b"\r\n" + route.payload + b"\r\n0\r\n\r\n"
    head = request_head(web, route.method, route.path,
                        {**route.headers, "Transfer-Encoding": "chunked",
                         "Content-Length": str(len(framed)), "Connection": "close"})
    assert_error(raw_exchange(web, head, framed), 400)
    assert_unchanged(before, footprint(*route.owners), "both framings")
