"""The API guide's §3 error: `{"error": {"code", "message"}}` and nothing else, on any response.

One check for every suite: in-process (werkzeug test responses), over HTTP (`requests`), and
raw (`http.client`) for the requests no well-behaved client can send.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

SNAKE_CASE = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    headers: dict[str, str]  # lower-cased names
    body: bytes


def reply_of(response: Any) -> Reply:
    """A werkzeug test response, a `requests` response or an `http.client` one, alike."""
    if hasattr(response, "status_code") and hasattr(response, "data"):  # werkzeug
        return Reply(response.status_code, response.headers.get("Content-Type", ""),
                     {k.lower(): v for k, v in response.headers.items()}, response.data)
    if hasattr(response, "status_code"):  # requests
        return Reply(response.status_code, response.headers.get("Content-Type", ""),
                     {k.lower(): v for k, v in response.headers.items()}, response.content)
    body = response.read()  # http.client
    headers = {k.lower(): v for k, v in response.getheaders()}
    return Reply(response.status, headers.get("content-type", ""), headers, body)


def assert_error(response: Any, status: int, code: str | None = None,
                 field: str | None = None, *, context: object = "") -> dict[str, Any]:
    """The response is exactly `{"error": {"code", "message"}}` with `status`; returns the body.

    `field` must be named in the message (API guide §3: 400 names the offending field); a 429
    must say when to come back (`Retry-After`).
    """
    answer = reply_of(response)
    where = f"{context!r}: " if context != "" else ""
    assert answer.status == status, f"{where}expected {status}, got {answer.status}: " \
        f"{answer.body[:300]!r}"
    assert answer.content_type.startswith("application/json"), \
        f"{where}not JSON ({answer.content_type}): {answer.body[:300]!r}"
    body = json.loads(answer.body)
    assert isinstance(body, dict) and set(body) == {"error"}, f"{where}{body}"
    error = body["error"]
    assert isinstance(error, dict) and set(error) == {"code", "message"}, f"{where}{body}"
    assert isinstance(error["code"], str) and SNAKE_CASE.fullmatch(error["code"]), \
        f"{where}{body}"
    assert isinstance(error["message"], str) and error["message"], f"{where}{body}"
    if code is not None:
        assert error["code"] == code, f"{where}{body}"
    if field is not None:
        assert field in error["message"], f"{where}{field!r} not named in {body}"
    if status == 429:
        assert "retry-after" in answer.headers, f"{where}429 without Retry-After"
    return body


def error_failures(response: Any, status: int, code: str | None = None,
                   field: str | None = None, *, context: object = "") -> list[str]:
    """Like `assert_error`, but returns the problem instead of raising (for loops over routes)."""
    try:
        assert_error(response, status, code, field, context=context)
    except (AssertionError, ValueError) as problem:
        return [str(problem).splitlines()[0]]
    return []
