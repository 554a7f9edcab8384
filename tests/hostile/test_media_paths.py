"""`GET /media/<key>` (and Flask's `/static/`) with traversal, encodings, NULs, symlinks and
borrowed signatures: every one the §3 404, and never a byte of a file outside MEDIA_ROOT.

Raw paths go to the real server with `http.client`, which (unlike `requests`) sends `..` and
percent-encodings exactly as written.
"""

from __future__ import annotations

import http.client
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from string import printable
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from tests.support.domain import funded_user, signed_url, stored_upload
from tests.support.errors import assert_error
from tests.support.hostile import tried

pytestmark = pytest.mark.usefixtures("stack")
SECRET_MARKER = b"TOP-SECRET-OUTSIDE-MEDIA-ROOT"
SAFE_ASCII = "".join(char for char in printable if char not in " \t\n\r\x0b\x0c")


@dataclass
class Media:
    user_id: int
    key: str
    url: str
    victim_url: str
    root: Path
    outside: Path  # a file next to MEDIA_ROOT, never to be served
    symlink_key: str
    symlinked_folder_key: str
    directory_key: str
    deleted_key: str

    def query_of(self, url: str) -> str:
        return urlsplit(url).query

    @property
    def query(self) -> str:
        return self.query_of(self.url)

    def signed_query(self, key: str) -> str:
        return self.query_of(signed_url(key))


def _hex() -> str:
    return uuid.uuid4().hex


@pytest.fixture(scope="module")
def media(victim: dict[str, Any]) -> Iterator[Media]:
    root = Path(os.environ["MEDIA_ROOT"]).resolve()
    outside_dir = root.parent / f"outside-{_hex()[:8]}"
    outside_dir.mkdir()
    outside = outside_dir / f"{_hex()}.jpg"
    outside.write_bytes(SECRET_MARKER)
    user_id = funded_user(0)
    key = stored_upload(user_id)
    # an object that is a symlink to a file outside the root
    symlink_key = f"originals/{user_id}/{_hex()}.jpg"
    (root / symlink_key).symlink_to(outside)
    # a user folder that is a symlink to a folder outside the root
    linked_user = funded_user(0)
    (root / "originals" / str(linked_user)).symlink_to(outside_dir, target_is_directory=True)
    symlinked_folder_key = f"originals/{linked_user}/{outside.name}"
    # a directory where a file should be
    directory_key = f"originals/{user_id}/{_hex()}.jpg"
    (root / directory_key).mkdir()
    deleted_key = stored_upload(user_id)
    (root / deleted_key).unlink()
    yield Media(user_id, key, signed_url(key), signed_url(victim["upload_key"]), root, outside,
                symlink_key, symlinked_folder_key, directory_key, deleted_key)
    (root / symlink_key).unlink()
    (root / "originals" / str(linked_user)).unlink()
    (root / directory_key).rmdir()


def _outside(m: Media) -> str:
    return f"{m.outside.parent.name}/{m.outside.name}"


# name -> request path (with query), given the fixture
HOSTILE_PATHS: dict[str, Callable[[Media], str]] = {
    "dot-dot to /etc/passwd": lambda m: "/media/../../../../../../etc/passwd",
    "dot-dot to the outside file": lambda m: f"/media/../{_outside(m)}?{m.query}",
    "dot-dot inside a valid-looking key": lambda m:
        f"/media/originals/{m.user_id}/../../../{_outside(m)}?{m.query}",
    "%2e%2e": lambda m: f"/media/%2e%2e/{_outside(m)}?{m.query}",
    "%2e%2e%2f": lambda m: f"/media/%2e%2e%2f{_outside(m)}?{m.query}",
    "..%2f": lambda m: "/media/..%2f..%2f..%2f..%2fetc%2fpasswd",
    "double-encoded": lambda m: "/media/%252e%252e%252f%252e%252e%252fetc%252fpasswd",
    "double-encoded to outside": lambda m: f"/media/%252e%252e/{_outside(m)}?{m.query}",
    "backslashes": lambda m: "/media/..\\..\\..\\etc\\passwd",
    "encoded backslashes": lambda m: f"/media/..%5c{m.outside.parent.name}%5c{m.outside.name}",
    "absolute path": lambda m: "/media//etc/passwd",
    "encoded absolute path": lambda m: "/media/%2fetc%2fpasswd",
    "absolute path of the outside file": lambda m: f"/media/{m.outside}?{m.query}",
    "absolute path inside the root": lambda m: f"/media/{m.root}/{m.key}?{m.query}",
    "NUL after the key": lambda m: f"/media/{m.key}%00.png?{m.query}",
    "NUL before the extension": lambda m: f"/media/{m.key[:-4]}%00.jpg?{m.query}",
    "overlong UTF-8 dots": lambda m: "/media/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
    "overlong UTF-8 slash": lambda m: "/media/..%c0%af..%c0%afetc%c0%afpasswd",
    "3-byte overlong dot": lambda m: "/media/%e0%80%ae%e0%80%ae/etc/passwd",
    "unicode full stops": lambda m: "/media/\u2024\u2024/etc/passwd",
    "dot segment prefix": lambda m: f"/media/./{m.key}?{m.query}",
    "double slash in the key": lambda m: f"/media/{m.key.replace('/', '//', 1)}?{m.query}",
    "trailing slash": lambda m: f"/media/{m.key}/?{m.query}",
    "trailing dot segment": lambda m: f"/media/{m.key}/.?{m.query}",
    "upper-case key": lambda m: f"/media/{m.key.upper()}?{m.query}",
    "symlink to a file outside": lambda m: f"/media/{m.symlink_key}?"
                                           f"{m.signed_query(m.symlink_key)}",
    "symlinked user folder": lambda m: f"/media/{m.symlinked_folder_key}?"
                                       f"{m.signed_query(m.symlinked_folder_key)}",
    "a directory": lambda m: f"/media/{m.directory_key}?{m.signed_query(m.directory_key)}",
    "a deleted file": lambda m: f"/media/{m.deleted_key}?{m.signed_query(m.deleted_key)}",
    "someone else's signature": lambda m: f"/media/{m.key}?{m.query_of(m.victim_url)}",
    "signature for another expiry": lambda m: f"/media/{m.key}?exp=" + str(
        int(m.query.split("exp=")[1].split("&")[0]) + 1) + "&sig=" + m.query.split("sig=")[1],
    "no signature": lambda m: f"/media/{m.key}",
    "empty signature": lambda m: f"/media/{m.key}?exp=&sig=",
    "expired": lambda m: f"/media/{m.key}?{m.query_of(signed_url(m.key, now=1_000_000))}",
    "array parameters": lambda m: f"/media/{m.key}?exp[]=1&sig[]=x",
    "huge expiry": lambda m: f"/media/{m.key}?exp={'9' * 300}&sig={'A' * 43}",
    "bare /media/": lambda m: "/media/",
    "static traversal": lambda m: "/static/../../../../etc/passwd",
    "static encoded traversal": lambda m: "/static/%2e%2e/%2e%2e/api/__init__.py",
    "static outside file": lambda m: f"/static/../../{_outside(m)}",
    "static absolute": lambda m: "/static//etc/passwd",
}


def _assert_nothing_leaked(body: bytes, context: str) -> None:
    assert SECRET_MARKER not in body, f"{context}: served the file outside MEDIA_ROOT"
    assert b"root:x:" not in body and b"create_app" not in body, f"{context}: served a file"


@pytest.mark.parametrize("kind", list(HOSTILE_PATHS))
def test_hostile_media_paths_are_404(client: Any, media: Media, kind: str) -> None:
    tried("media paths")
    path = HOSTILE_PATHS[kind](media)
    response = client.get(path)
    _assert_nothing_leaked(response.data, kind)
    assert_error(response, 404, "not_found", context=(kind, path))


def test_the_control_case_is_served(client: Any, media: Media) -> None:
    assert client.get(f"/media/{media.key}?{media.query}").status_code == 200


@pytest.mark.parametrize("spelling", ["%2F for slashes", "%2e for the dot", "%6F for an o"])
def test_other_spellings_of_a_signed_key_serve_that_image_or_nothing(client: Any, media: Media,
                                                                    spelling: str) -> None:
    """WSGI decodes the path before routing, so an encoded spelling of the very key the
    signature covers may be served; it must be that image or a 404, never anything else."""
    tried("media paths")
    encoded = {"%2F for slashes": media.key.replace("/", "%2F"),
               "%2e for the dot": media.key.replace(".", "%2e"),
               "%6F for an o": media.key.replace("o", "%6F")}[spelling]
    response = client.get(f"/media/{encoded}?{media.query}")
    if response.status_code == 200:
        assert response.data == client.get(f"/media/{media.key}?{media.query}").data
    else:
        assert_error(response, 404, "not_found")


def _raw_get(base: str, path: str) -> Any:
    """GET exactly these bytes as the request target (UTF-8 included, no normalisation)."""
    parts = urlsplit(base)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: "
                     + parts.netloc.encode() + b"\r\nConnection: close\r\n\r\n")
        response = http.client.HTTPResponse(sock)
        response.begin()
        status, headers, body = response.status, response.getheaders(), response.read()

    class Raw:
        def __init__(self) -> None:
            self.status = status

        def getheaders(self) -> list[tuple[str, str]]:
            return headers

        def read(self) -> bytes:
            return body

    return Raw()


# Raw bytes that only a real HTTP server sees unencoded (http.client refuses control
# characters, so NUL stays percent-encoded).
RAW_ONLY: dict[str, Callable[[Media], str]] = {
    "raw dot-dot after a valid prefix": lambda m: f"/media/originals/../../{_outside(m)}",
    "raw /./ segments": lambda m: f"/media/./././{m.key}?{m.query}",
    "raw backslash traversal to outside": lambda m: f"/media/..\\{m.outside.parent.name}\\"
                                                    f"{m.outside.name}",
    "raw absolute-form with another host": lambda m: f"http://evil.example/media/{m.key}",
    "raw semicolon path parameter": lambda m: f"/media/{m.key};.png?{m.query}",
}


@pytest.mark.parametrize("kind", list(HOSTILE_PATHS) + list(RAW_ONLY))
def test_hostile_media_paths_over_the_real_server(web: str, media: Media, kind: str) -> None:
    tried("media paths")
    # Raw non-ASCII on the request line is not HTTP (gunicorn answers its own HTML 400): send
    # it as UTF-8 percent-encoded, as a client would.
    path = quote({**HOSTILE_PATHS, **RAW_ONLY}[kind](media), safe=SAFE_ASCII)
    response = _raw_get(web, path)
    _assert_nothing_leaked(response.read(), kind)
    assert_error(response, 404, "not_found", context=(kind, path))
