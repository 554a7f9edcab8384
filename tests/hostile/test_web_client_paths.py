"""`/app` and `/app/sw.js` (the reference web client) against hostile requests: other methods,
traversal and encodings around its paths, a token or markup in the query, a bearer token that
is not one. Each is the §3 error or the same inert page; nothing of the server's files leaks,
nothing from the request is echoed into the page, and nothing changes.

Raw paths go to the real server with `http.client`, which sends `..` and percent-encodings
exactly as written.
"""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.errors import assert_error
from tests.support.hostile import tried
from tests.support.users import auth, new_user_id

pytestmark = pytest.mark.usefixtures("stack")

PATHS = ("/app", "/app/sw.js")
TRAVERSALS = (
    "/app/../api/me", "/app/%2e%2e/api/me", "/app/sw.js/", "/app/sw.js%00",
    "/app/sw.js/..%2f..%2fweb_client.py", "/app/static/main.js", "/app/templates/app.html",
    "/static/app/../../web_client.py", "/static/app/%2e%2e/%2e%2e/web_client.py",
    "/static/app/..%2f..%2fweb_client.py", "/app%2fsw.js", "/app/sw.js;.py",
)


def _raw_get(web: str, path: str) -> tuple[int, bytes, str]:
    parts = urlsplit(web)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read(), response.getheader("Content-Type") or ""
    finally:
        connection.close()


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_other_methods_are_a_405_with_allow(web: str, path: str, method: str) -> None:
    tried("web client: method")
    response = requests.request(method, f"{web}{path}", timeout=10, data=b"x" * 100)
    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_paths_around_the_client_never_serve_a_file_of_the_server(web: str, path: str) -> None:
    tried("web client: path")
    status, body, content_type = _raw_get(web, path)
    # Neither the blueprint's Python nor the page's unrendered template.
    assert b"from __future__" not in body and b"{% extends" not in body, (path, status)
    if status != 200:
        assert status in (400, 404), (path, status)
        assert content_type.startswith("application/json"), (path, content_type)


def test_the_final_slash_goes_to_the_page_and_nowhere_else(web: str) -> None:
    for path in ("/app/", "/app/?next=//evil.example/", "/app/?x=%0d%0aSet-Cookie:%20a=b"):
        tried("web client: slash")
        response = requests.get(f"{web}{path}", timeout=10, allow_redirects=False)
        assert response.status_code == 308, path
        assert response.headers["Location"] == "/app", path  # never the query, never a host
        assert "Set-Cookie" not in response.headers


def test_the_query_and_the_headers_change_nothing_in_the_page(web: str) -> None:
    plain = requests.get(f"{web}/app", timeout=10)
    assert plain.status_code == 200
    hostile = [
        {"params": {"token": "eyJhbGciOiJIUzI1NiJ9.x.y"}},
        {"params": {"q": "<script>alert(1)</script>", "next": "javascript:alert(1)"}},
        {"headers": {"Authorization": "Bearer not-a-token"}},
        {"headers": {**auth(new_user_id()), "Accept": "application/json"}},
        {"headers": {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}},
    ]
    for variation in hostile:
        tried("web client: query/headers")
        response = requests.get(f"{web}/app", timeout=10, **variation)  # type: ignore[arg-type]
        assert response.status_code == 200, variation
        assert response.content == plain.content, variation  # nothing echoed, nothing signed in
        assert response.headers["Content-Security-Policy"] == \
            plain.headers["Content-Security-Policy"], variation
