"""A request body whose HTTP framing is broken is the client's error (400), not ours (500).

gunicorn parses `Transfer-Encoding: chunked` lazily, while the app reads `wsgi.input`: a bad
chunk size or a missing CRLF raises gunicorn's own exception from inside that read, in the
middle of a view, where the catch-all handler would make it a 500. This middleware wraps the
input stream so that those exceptions become werkzeug's `BadRequest`, which the §3 handler
answers like any other 400. The view stops at its first read of the body, before it calls any
service, so nothing is charged or stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import IO, Any

from gunicorn.http.errors import NoMoreData, ParseException
from werkzeug.exceptions import BadRequest

# What gunicorn's body readers raise on broken framing (ParseException: a bad chunk size,
# extension, terminator or trailer) or on a body cut short (NoMoreData).
FRAMING_ERRORS = (ParseException, NoMoreData)


class MalformedBody(BadRequest):
    description = "the request body's framing is malformed (Transfer-Encoding: chunked)"


class _GuardedInput:
    """`wsgi.input`, with the server's framing errors turned into a 400."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream

    def _guard(self, read: Any, *args: Any) -> Any:
        try:
            return read(*args)
        except FRAMING_ERRORS as error:
            raise MalformedBody(f"{MalformedBody.description}: {error}"[:200]) from None

    def read(self, *args: Any) -> bytes:
        data: bytes = self._guard(self._stream.read, *args)
        return data

    def readline(self, *args: Any) -> bytes:
        line: bytes = self._guard(self._stream.readline, *args)
        return line

    def readlines(self, *args: Any) -> list[bytes]:
        lines: list[bytes] = self._guard(self._stream.readlines, *args)
        return lines

    def __iter__(self) -> Iterator[bytes]:
        iterator = iter(self._stream)
        while True:
            try:
                line = self._guard(next, iterator)
            except StopIteration:
                return
            yield line


class GuardBodyFraming:
    """WSGI middleware: `app.wsgi_app = GuardBodyFraming(app.wsgi_app)`."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        # Only a request with a body has framing to break (HTTP/1.1: a Content-Length or a
        # Transfer-Encoding); a GET without either, a status poll, is left as it came.
        if "wsgi.input" in environ and (environ.get("CONTENT_LENGTH") not in (None, "", "0")
                                        or "HTTP_TRANSFER_ENCODING" in environ):
            environ["wsgi.input"] = _GuardedInput(environ["wsgi.input"])
        result: Iterable[bytes] = self.app(environ, start_response)
        return result
