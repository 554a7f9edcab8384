"""A request body must arrive in time, and be no longer than its route reads: a client that
stops sending holds a connection, not the server, and not for long; a client that sends
megabytes to a route that reads a few kilobytes costs the server the head of its request.

The head of a request (request line and headers) is bounded by the gunicorn worker
(config/web_worker.py). The body is the app's to read, and gunicorn reads it lazily, from inside
a view: a client that announces `Content-Length: 1000` and sends 3 bytes would hold that view
for as long as it likes. So this middleware reads the whole body up front, before the app sees
the request, against one deadline: REQUEST_ARRIVAL_SECONDS plus the time its length takes at
REQUEST_BODY_MIN_BYTES_PER_SECOND, at most REQUEST_BODY_MAX_SECONDS, kept with a
`gevent.Timeout` (the `web` process runs gunicorn's gevent worker, so the waiting read is a
greenlet the timeout can interrupt). A body that misses it is answered `408` (the §3 body) and
its connection closed.

Before it reads, it asks the route's limit (api/body_limits.py). An announced length past it is
answered `413 body_too_large` at once, nothing of the body read; a chunked body is read to one
byte past it, then answered the same. Either way the connection is closed after the answer
(config/web_worker.py), so the server never reads (nor drains) the rest. A body within the
limit lands in a spooled buffer (memory, then a temporary file past 1 MB).

Broken framing met while reading (a bad chunk, a body cut short) is not answered here: the app
reads the same error from the buffer, where GuardBodyFraming (api/body_framing.py) makes it the
§3 400 it always was.
"""

from __future__ import annotations

import contextlib
import json
import socket
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

import gevent

from api.body_framing import FRAMING_ERRORS
from config import get_settings
from config.web_worker import close_after_response

CHUNK = 64 * 1024
IN_MEMORY_BYTES = 1024 * 1024


class _UnreadableBody:
    """`wsgi.input` for a body whose framing broke while it was read: every read raises the
    server's own error again, for GuardBodyFraming to turn into a 400."""

    def __init__(self, error: Exception) -> None:
        self._error = error

    def read(self, *args: Any) -> bytes:
        raise self._error

    readline = read

    def readlines(self, *args: Any) -> list[bytes]:
        raise self._error

    def __iter__(self) -> Iterator[bytes]:
        raise self._error


class _Closing:
    """A refusal's body (408, 413); when the server is done writing it, the connection is shut,
    so the rest of the body is never waited for (the server would otherwise drain it first)."""

    def __init__(self, body: bytes, client: socket.socket) -> None:
        self._body = body
        self._client = client

    def __iter__(self) -> Iterator[bytes]:
        yield self._body

    def close(self) -> None:
        with contextlib.suppress(OSError):  # the client is gone already
            self._client.shutdown(socket.SHUT_RDWR)


class BoundBodyArrival:
    """WSGI middleware: `app.wsgi_app = BoundBodyArrival(app.wsgi_app, limit_of=...)`,
    outermost; `limit_of(environ)` is the longest body the request's route reads."""

    def __init__(self, app: Any, *, limit_of: Callable[[dict[str, Any]], int]) -> None:
        self.app = app
        self.limit_of = limit_of

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        client = environ.get("gunicorn.socket")  # None in-process (tests): nothing to wait for
        length = _announced_length(environ)
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if not (chunked or (length or 0) > 0):
            return self._app(environ, start_response)
        limit = self.limit_of(environ)
        if length is not None and length > limit:
            return _body_too_large(start_response, client, limit)  # read nothing
        if client is None:  # in-process: the body is in memory already, its length checked
            return self._app(environ, start_response)
        try:
            body = self._read_in_time(environ["wsgi.input"], limit + 1 if length is None
                                      else length, length or 0)
        except TimeoutError:
            return _request_timeout(start_response, client)
        if not isinstance(body, _UnreadableBody) and length is None and _size(body) > limit:
            body.close()
            return _body_too_large(start_response, client, limit)
        environ["wsgi.input"] = body
        return self._app(environ, start_response)

    def _app(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        result: Iterable[bytes] = self.app(environ, start_response)
        return result

    def _read_in_time(self, stream: IO[bytes], limit: int, length: int
                      ) -> IO[bytes] | _UnreadableBody:
        settings = get_settings()
        allowed = min(settings.request_arrival_seconds
                      + length / settings.request_body_min_bytes_per_second,
                      settings.request_body_max_seconds)
        # Not a `with`: on success the buffer outlives this call, as the request's body.
        buffer = tempfile.SpooledTemporaryFile(max_size=IN_MEMORY_BYTES)  # noqa: SIM115
        try:
            # One deadline for the whole body, wherever the reads wait (a socket timeout would
            # bound each read alone, and a client trickling bytes would renew it forever).
            with gevent.Timeout(allowed, TimeoutError):
                remaining = limit
                while remaining > 0:
                    chunk = stream.read(min(CHUNK, remaining))
                    if not chunk:
                        break
                    buffer.write(chunk)
                    remaining -= len(chunk)
        except FRAMING_ERRORS as error:
            buffer.close()
            return _UnreadableBody(error)
        except BaseException:
            buffer.close()
            raise
        buffer.seek(0)
        return buffer  # a file object, as wsgi.input


def _size(body: IO[bytes]) -> int:
    size = body.seek(0, 2)
    body.seek(0)
    return size


def _announced_length(environ: dict[str, Any]) -> int | None:
    try:
        return int(environ.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None


def _request_timeout(start_response: Any, client: socket.socket) -> Iterable[bytes]:
    return _refusal(start_response, client, "408 Request Timeout", "request_timeout",
                    "the request body did not arrive in time")


def _body_too_large(start_response: Any, client: socket.socket | None,
                    limit: int) -> Iterable[bytes]:
    return _refusal(start_response, client, "413 Content Too Large", "body_too_large",
                    f"the body is longer than this route reads: at most {limit} bytes")


def _refusal(start_response: Any, client: socket.socket | None, status: str, code: str,
             message: str) -> Iterable[bytes]:
    """The §3 error, answered before the body is read; the connection closed after it."""
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    if client is not None:
        close_after_response(client)
    start_response(status, [
        ("Content-Type", "application/json"), ("Content-Length", str(len(body))),
        ("Connection", "close"),
    ])
    return [body] if client is None else _Closing(body, client)
