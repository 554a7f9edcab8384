"""Every answer an attacker can provoke is one `/openapi.json` documents, with the body and
headers it documents: a wrong method (405 and `Allow`), a request line or headers too large for
gunicorn (414, 431), broken HTTP (400, 417), `/media`'s range and conditional requests (206
with `Content-Range`, 304, 412, 416), an operator past their budget (429 on every admin route).
Provoked over the real server, on every path of the document.
"""

from __future__ import annotations

import http.client
import json
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from jsonschema import Draft202012Validator, FormatChecker

from tests.support.domain import funded_user, make_job, signed_url, stored_upload
from tests.support.hostile import tried
from tests.support.users import auth, new_user_id

pytestmark = pytest.mark.usefixtures("stack")

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
PARAMETER_VALUES = {"generation_id": "1", "user_id": "1", "batch_id":
                    "00000000-0000-4000-8000-000000000001", "storage_key": "originals/1/x.jpg",
                    "token": "x", "flag_name": "push", "device_id": "1"}


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes


def raw_request(base: str, request: bytes) -> Answer:
    parts = urlsplit(base)
    with socket.create_connection((parts.hostname, parts.port), timeout=15) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        response = http.client.HTTPResponse(sock, method=request.split(b" ", 1)[0].decode())
        response.begin()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()},
                      response.read())


def of(response: requests.Response) -> Answer:
    return Answer(response.status_code, {k.lower(): v for k, v in response.headers.items()},
                  response.content)


@pytest.fixture(scope="module")
def document(web: str) -> dict[str, Any]:
    answer = requests.get(f"{web}/openapi.json", timeout=10)
    assert answer.status_code == 200
    body: dict[str, Any] = answer.json()
    return body


def concrete(path: str) -> str:
    for name, value in PARAMETER_VALUES.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, path
    return path


def assert_documented(document: dict[str, Any], method: str, path: str, answer: Answer,
                      context: object = "") -> None:
    """`answer` is a response the operation documents: its status, its required headers, its
    content type and (JSON) its body's schema."""
    operation = document["paths"][path][method.lower()]
    documented = operation["responses"].get(str(answer.status))
    assert documented is not None, \
        f"{context!r}: {method} {path} answered an undocumented {answer.status}"
    if "$ref" in documented:
        documented = document["components"]["responses"][documented["$ref"].rsplit("/", 1)[1]]
    for name, header in documented.get("headers", {}).items():
        if "$ref" in header:
            header = document["components"]["headers"][header["$ref"].rsplit("/", 1)[1]]
        if header.get("required"):
            assert name.lower() in answer.headers, f"{context!r}: {answer.status} without {name}"
    content = documented.get("content")
    if not content:
        assert answer.body == b"", f"{context!r}: {answer.status} has a body it documents not"
        return
    media_type = answer.headers.get("content-type", "").split(";")[0]
    assert media_type in content, f"{context!r}: {answer.status} is {media_type}"
    if media_type == "application/json":
        validator = Draft202012Validator(
            {**content[media_type]["schema"], "components": document["components"]},
            format_checker=FormatChecker())
        problems = [error.message for error in validator.iter_errors(json.loads(answer.body))]
        assert not problems, f"{context!r}: {answer.status} body: {problems}"


def operations(document: dict[str, Any]) -> list[tuple[str, str]]:
    return [(method.upper(), path) for path, item in document["paths"].items()
            for method in item]


def test_wrong_methods_are_405_with_allow_and_documented(web: str,
                                                         document: dict[str, Any]) -> None:
    for path, item in document["paths"].items():
        served = {method.upper() for method in item}
        for method in sorted(set(METHODS) - served):
            tried("documented answers")
            answer = of(requests.request(method, web + concrete(path), timeout=10))
            assert answer.status == 405, (method, path, answer.status)
            allowed = {value.strip() for value in answer.headers["allow"].split(",")}
            assert allowed - {"HEAD", "OPTIONS"} == served, (path, allowed)
            for documented_method in served:  # each operation of the path says so
                assert_documented(document, documented_method, path, answer, (method, path))


def test_a_request_line_too_long_is_a_documented_414(web: str,
                                                     document: dict[str, Any]) -> None:
    host = urlsplit(web).netloc.encode()
    for method, path in operations(document):
        tried("documented answers")
        target = concrete(path).encode() + b"?pad=" + b"a" * 5000
        answer = raw_request(web, method.encode() + b" " + target + b" HTTP/1.1\r\nHost: "
                             + host + b"\r\nConnection: close\r\n\r\n")
        assert answer.status == 414, (method, path, answer)
        assert_documented(document, method, path, answer, (method, path))


@pytest.mark.parametrize("kind", ["one huge header", "too many headers"])
def test_headers_too_large_are_a_documented_431(web: str, document: dict[str, Any],
                                                kind: str) -> None:
    host = urlsplit(web).netloc.encode()
    extra = (b"X-Pad: " + b"a" * 9000 + b"\r\n" if kind == "one huge header"
             else b"".join(b"X-Pad-%d: 1\r\n" % index for index in range(150)))
    for method, path in operations(document):
        tried("documented answers")
        answer = raw_request(web, method.encode() + b" " + concrete(path).encode()
                             + b" HTTP/1.1\r\nHost: " + host + b"\r\n" + extra
                             + b"Connection: close\r\n\r\n")
        assert answer.status == 431, (method, path, answer)
        assert_documented(document, method, path, answer, (method, path, kind))


BROKEN_HTTP = {
    "a header name with a space": (b"Bad Header: 1\r\n", 400),
    "an HTTP version gunicorn does not speak": (None, 400),
    "an expectation other than 100-continue": (b"Expect: teapot\r\n", 417),
}


@pytest.mark.parametrize("kind", list(BROKEN_HTTP))
def test_broken_http_is_a_documented_error(web: str, document: dict[str, Any],
                                           kind: str) -> None:
    host = urlsplit(web).netloc.encode()
    header, status = BROKEN_HTTP[kind]
    for method, path in operations(document):
        tried("documented answers")
        version = b"HTTP/2.0" if header is None else b"HTTP/1.1"
        answer = raw_request(web, method.encode() + b" " + concrete(path).encode() + b" "
                             + version + b"\r\nHost: " + host + b"\r\n" + (header or b"")
                             + b"Connection: close\r\n\r\n")
        assert answer.status == status, (method, path, answer)
        assert_documented(document, method, path, answer, (method, path, kind))


MEDIA = "/media/{storage_key}"


def test_media_range_and_conditional_answers_are_documented(web: str,
                                                            document: dict[str, Any]) -> None:
    url = signed_url(stored_upload(funded_user(0)))
    whole = requests.get(url, timeout=10)
    assert whole.status_code == 200
    etag, size = whole.headers["ETag"], len(whole.content)
    cases: dict[str, tuple[dict[str, str], int]] = {
        "a range": ({"Range": "bytes=0-9"}, 206),
        "a suffix range": ({"Range": "bytes=-10"}, 206),
        "an open range": ({"Range": f"bytes={size - 5}-"}, 206),
        "a range past the end": ({"Range": f"bytes={size + 10}-"}, 416),
        "two ranges": ({"Range": "bytes=0-1,5-9"}, 416),
        "garbage range": ({"Range": "bytes=zz"}, 416),
        "a negative range": ({"Range": "bytes=-0"}, 416),
        "another unit": ({"Range": "pages=1-2"}, 416),
        "the ETag it has": ({"If-None-Match": etag}, 304),
        "If-Match of another version": ({"If-Match": '"not-this-one"'}, 412),
        "If-Match with a future If-Modified-Since": (
            {"If-Match": "*", "If-Modified-Since": "Sun, 01 Jan 2090 00:00:00 GMT"}, 412),
    }
    for kind, (headers, status) in cases.items():
        tried("documented answers")
        answer = of(requests.get(url, headers=headers, timeout=10))
        assert answer.status == status, (kind, answer.status, answer.body[:200])
        assert_documented(document, "GET", MEDIA, answer, kind)
        if status >= 400:  # an error never carries the image
            assert answer.headers["content-type"].startswith("application/json"), kind
        if status == 206:
            assert answer.body == whole.content[:10] or answer.body in whole.content, kind


def test_ranges_on_exports_and_shared_images_are_documented(web: str,
                                                            document: dict[str, Any]) -> None:
    """The export and a share link's image answer `Range` too (206, 416), as documented."""
    user_id = funded_user(1)
    job = make_job(user_id, stored_upload(user_id), "completed")
    shared = requests.post(f"{web}/api/headshots/{job['id']}/share", headers=auth(user_id),
                           json={}, timeout=10)
    assert shared.status_code == 201, shared.text
    targets = {
        ("/api/headshots/{generation_id}/export", f"{web}/api/headshots/{job['id']}/export"):
            auth(user_id),
        ("/s/{token}/image", shared.json()["shareUrl"] + "/image"): {},
    }
    for (path, url), headers in targets.items():
        for ranges, status in (("bytes=0-9", 206), ("bytes=999999999-", 416),
                               ("bytes=1-0", 416)):
            tried("documented answers")
            answer = of(requests.get(url, headers={**headers, "Range": ranges}, timeout=30))
            assert answer.status == status, (path, ranges, answer.status, answer.body[:200])
            assert_documented(document, "GET", path, answer, (path, ranges))


def test_an_operator_past_their_budget_gets_a_documented_429_on_every_admin_route(
        web: str, document: dict[str, Any]) -> None:
    """The operators' budget covers the whole admin API, reads included: each of its
    operations documents the 429 (and its `Retry-After`) that it then answers."""
    from limits import parse

    from config import get_settings

    operator = auth(new_user_id(), role="admin")
    with requests.Session() as session:
        for _ in range(int(parse(get_settings().rate_limit_admin).amount)):
            session.post(f"{web}/api/admin/users/1/credits", headers=operator, json={},
                         timeout=10)  # a 400, counted all the same
        admin = [(method, path) for method, path in operations(document)
                 if path.startswith("/api/admin/")]
        assert len(admin) >= 2, admin
        for method, path in admin:
            tried("documented answers")
            answer = of(session.request(method, web + concrete(path), headers=operator,
                                        json={}, timeout=10))
            assert answer.status == 429, (method, path, answer.status)
            assert_documented(document, method, path, answer, (method, path))
