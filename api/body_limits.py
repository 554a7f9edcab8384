"""How large a body each route reads: decided from the route before a byte of it is read.

A route reads no more than it can use. A JSON route's request model says how many bytes its
fields can fill (`Request.max_body_bytes`, api/schemas.py); the upload route takes the image
limit plus the multipart framing; a route without a body reads a few bytes at most (a client
library that sends `{}` with a bodyless POST still gets its answer). An operation may say its
own (`@documented(max_body_bytes=...)`). The OpenAPI document states each operation's limit as
`x-max-body-bytes` (api/openapi.py).

`RouteBodyLimits` answers, for a request's environ, the limit of the route it will reach, so
that api/request_arrival.py can refuse a longer body (413 `body_too_large`) from its
Content-Length alone, or stop reading a chunked one just past the limit: a body that is too
large never costs more than its head, and is never parsed.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.exceptions import HTTPException

from api.documented import Operation, operation_of
from config import get_settings

# Room for the multipart framing around the upload's one file: boundaries, part headers.
MULTIPART_OVERHEAD = 64 * 1024
# A route that reads no body (GET, DELETE, a bodyless POST), and a path no route answers.
NO_BODY_BYTES = 1024


def max_body_bytes(operation: Operation) -> int:
    """The longest body the operation's route reads; a longer one is refused unread."""
    if operation.max_body_bytes is not None:
        return operation.max_body_bytes
    if operation.upload:
        return get_settings().upload_max_bytes + MULTIPART_OVERHEAD
    if operation.body is not None:
        limit: int = getattr(operation.body, "max_body_bytes", NO_BODY_BYTES)
        return limit
    return NO_BODY_BYTES


class RouteBodyLimits:
    """The body limit of the route a request will reach (its endpoint's operation)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._by_endpoint: dict[str, int] | None = None  # built on first use, once routed

    def for_request(self, environ: dict[str, Any]) -> int:
        try:
            endpoint, _ = self.app.url_map.bind_to_environ(environ).match()
        except HTTPException:  # no such path, another method, a redirect: nothing to read
            return NO_BODY_BYTES
        return self._limits().get(str(endpoint), NO_BODY_BYTES)

    def largest(self) -> int:
        return max(self._limits().values(), default=NO_BODY_BYTES)

    def _limits(self) -> dict[str, int]:
        if self._by_endpoint is None:
            limits = {}
            for endpoint, view in self.app.view_functions.items():
                operation = operation_of(view)
                if operation is not None:
                    limits[endpoint] = max_body_bytes(operation)
            self._by_endpoint = limits
        return self._by_endpoint
