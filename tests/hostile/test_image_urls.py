"""`imageUrl` of `POST /api/headshots/generate` (API guide §5): only the service's own, valid,
signed upload URLs of the caller. Everything else is a 400 naming `imageUrl`, nothing charged,
no job, no file."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.support.domain import funded_user, make_job, signed_url, stored_upload
from tests.support.errors import assert_error
from tests.support.hostile import assert_unchanged, footprint, send
from tests.support.users import auth

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")


@dataclass
class Caller:
    """A user with credits and one valid upload URL; the material the hostile URLs are made of."""

    user_id: int
    key: str
    url: str
    victim_key: str

    @property
    def port(self) -> int:
        return int(urlsplit(self.url).port or 80)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def path_query(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.path}?{parts.query}"

    @property
    def query(self) -> str:
        return urlsplit(self.url).query

    def at(self, origin: str) -> str:
        return origin + self.path_query

    @cached_property
    def finished_job(self) -> dict[str, Any]:
        return make_job(self.user_id, self.key, "completed")


@pytest.fixture
def caller(victim: dict[str, Any]) -> Caller:
    user_id = funded_user(5)
    key = stored_upload(user_id)
    return Caller(user_id, key, signed_url(key), victim["upload_key"])


# name -> the imageUrl value (any JSON type), given the caller
HOSTILE_URLS: dict[str, Callable[[Caller], Any]] = {
    # private and special addresses, with a valid signature for the caller's own key
    "10.x": lambda c: c.at("http://10.0.0.1"),
    "10.x with our port": lambda c: c.at(f"http://10.0.0.1:{c.port}"),
    "127.0.0.1 on another port": lambda c: c.at(f"http://127.0.0.1:{c.port + 1}"),
    "127.0.0.1 on the Redis port": lambda c: c.at("http://127.0.0.1:6379"),
    "cloud metadata": lambda c: c.at("http://169.254.169.254"),
    "cloud metadata path": lambda c: "http://169.254.169.254/latest/meta-data/iam/",
    "[::1]": lambda c: c.at(f"http://[::1]:{c.port}"),
    "[::ffff:127.0.0.1]": lambda c: c.at(f"http://[::ffff:127.0.0.1]:{c.port}"),
    "0.0.0.0": lambda c: c.at(f"http://0.0.0.0:{c.port}"),
    "localhost by name": lambda c: c.at(f"http://localhost:{c.port}"),
    "decimal IP": lambda c: c.at(f"http://2130706433:{c.port}"),
    "octal IP": lambda c: c.at(f"http://0177.0.0.1:{c.port}"),
    "hex IP": lambda c: c.at(f"http://0x7f.0.0.1:{c.port}"),
    "hex IP whole": lambda c: c.at(f"http://0x7f000001:{c.port}"),
    "short IP": lambda c: c.at(f"http://127.1:{c.port}"),
    "trailing dot": lambda c: c.at(f"http://127.0.0.1.:{c.port}"),
    "https on our host": lambda c: c.at(f"https://127.0.0.1:{c.port}"),
    "fullwidth dots": lambda c: c.at(f"http://127。0。0。1:{c.port}"),
    "percent-encoded host": lambda c: c.at(f"http://%31%32%37.0.0.1:{c.port}"),
    # other hosts
    "other host": lambda c: c.at("http://evil.example"),
    "our host as a subdomain": lambda c: c.at(f"http://127.0.0.1.evil.example:{c.port}"),
    "fragment before our host": lambda c: c.at(f"http://evil.example#@127.0.0.1:{c.port}"),
    # schemes
    "file": lambda c: "file:///etc/passwd",
    "file into the media root": lambda c: f"file://{os.environ['MEDIA_ROOT']}/{c.key}",
    "gopher": lambda c: "gopher://127.0.0.1:6379/_FLUSHALL%0D%0A",
    "data URL": lambda c: "data:image/jpeg;base64,/9j/4AAQSkZJRgABAQ==",
    "data URL with our query": lambda c: f"data:image/jpeg;base64,/9j/?{c.query}",
    "ftp": lambda c: c.at(f"ftp://127.0.0.1:{c.port}"),
    "javascript": lambda c: "javascript:alert(document.cookie)",
    "dict": lambda c: "dict://127.0.0.1:6379/info",
    "scheme-relative": lambda c: c.at(f"//127.0.0.1:{c.port}"),
    "relative path": lambda c: c.path_query,
    "no scheme": lambda c: c.at(f"127.0.0.1:{c.port}"),
    # userinfo
    "userinfo, then evil host": lambda c: c.at(f"http://127.0.0.1:{c.port}@evil.example"),
    "userinfo on our host": lambda c: c.at(f"http://user:pass@127.0.0.1:{c.port}"),
    "evil userinfo on our host": lambda c: c.at(f"http://evil.example@127.0.0.1:{c.port}"),
    "empty userinfo": lambda c: c.at(f"http://@127.0.0.1:{c.port}"),
    # backslashes, encodings, whitespace inside
    "backslash before @": lambda c: c.at(f"http://127.0.0.1:{c.port}\\@evil.example"),
    "backslashes in the path": lambda c: c.url.replace("/", "\\").replace("http:\\\\", "http://"),
    "encoded slashes in the key": lambda c: c.url.replace(c.key, c.key.replace("/", "%2F")),
    "encoded dots in the key": lambda c: c.url.replace(c.key, c.key.replace(".", "%2e")),
    "dot segments": lambda c: c.url.replace("/media/", "/media/originals/../"),
    "encoded dot segments": lambda c: c.url.replace("/media/", "/media/%2e%2e/media/"),
    "double-encoded slash": lambda c: c.url.replace(c.key, c.key.replace("/", "%252F")),
    "upper-case key": lambda c: c.url.replace(c.key, c.key.upper()),
    "NUL in the key": lambda c: c.url.replace(c.key, c.key + "\x00"),
    "encoded NUL": lambda c: c.url.replace(c.key, c.key + "%00"),
    "tab in the path": lambda c: c.url.replace("/media/", "/me\tdia/"),
    "newline inside": lambda c: c.url.replace("?", "\n?"),
    "cyrillic letter in the host": lambda c: c.url.replace("localhost", "locаlhost")
    .replace("127.0.0.1", "127.0.0.l"),
    # query and fragment
    "fragment": lambda c: c.url + "#x",
    "empty fragment": lambda c: c.url + "#",
    "extra query parameter": lambda c: c.url + "&next=http://evil.example/",
    "second signature": lambda c: c.url + "&sig=" + c.url.rsplit("sig=", 1)[1],
    "semicolon parameter": lambda c: c.url + ";x=1",
    "no signature": lambda c: c.url.split("&sig=")[0],
    "no query": lambda c: c.url.split("?")[0],
    "tampered signature": lambda c: c.url[:-3] + ("AAA" if not c.url.endswith("AAA") else "BBB"),
    # signatures that are valid, but not for this
    "someone else's upload, validly signed": lambda c: signed_url(c.victim_key),
    "expired signature": lambda c: signed_url(c.key, now=time.time() - 7200),
    "signature of another key": lambda c: c.url.replace(c.key, c.victim_key),
    "expiry moved later": lambda c: c.url.replace("exp=", "exp=1"),
    "own finished job's result": lambda c: signed_url(c.finished_job["result"]),
    "own finished job's thumbnail": lambda c: signed_url(c.finished_job["thumbnail"]),
    # size
    "long URL (4 KB)": lambda c: c.url + "&pad=" + "x" * 4000,
    # longer bodies are refused whole (413): tests/hostile/test_body_limits.py
    "huge URL (12 KB)": lambda c: c.url + "&pad=" + "x" * 12_000,
    "empty string": lambda c: "",
    "whitespace only": lambda c: "   ",
    # not strings at all
    "number": lambda c: 12345,
    "float": lambda c: 1.5,
    "true": lambda c: True,
    "null": lambda c: None,
    "list": lambda c: [c.url],
    "object": lambda c: {"url": c.url},
}


@pytest.mark.parametrize("kind", list(HOSTILE_URLS))
def test_hostile_image_urls_are_400_and_charge_nothing(client: Any, caller: Caller,
                                                       kind: str) -> None:
    image_url = HOSTILE_URLS[kind](caller)
    before = footprint(caller.user_id)
    response = send(client, "post", "/api/headshots/generate", theme="imageUrl",
                    headers=auth(caller.user_id),
                    json={"imageUrl": image_url, "style": "corporate", "aspectRatio": "1:1"})
    body = assert_error(response, 400, field="imageUrl", context=kind)
    assert body["error"]["message"].startswith("imageUrl"), body
    assert_unchanged(before, footprint(caller.user_id), kind)


def test_the_control_case_is_accepted(client: Any, caller: Caller) -> None:
    """The same request with the caller's own URL works, so the 400s above are about the URL."""
    response = send(client, "post", "/api/headshots/generate", theme="imageUrl",
                    headers=auth(caller.user_id),
                    json={"imageUrl": caller.url, "style": "corporate"})
    assert response.status_code == 202, response.get_json()
