"""`@revalidated`: an `ETag` on a JSON read, and `304 Not Modified` when the client has it (§12).

The ETag is a hash of the body the route built, so it changes exactly when the body does (a
favorite toggled, a credit spent, a job moving on). Image URLs inside the body are signed on a
grid (media/signed_urls.py) and stay the same within a window, so repeated reads of an unchanged
resource do get a 304. The route still runs at each read: what a 304 saves is the transfer and the
client's parsing, not the server's work.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import Any

from flask import Response, make_response, request

PRIVATE_NO_CACHE = "private, no-cache"  # a cache keeps it, but asks each time (If-None-Match)


def body_etag(body: bytes) -> str:
    """The strong ETag value (without quotes) of a body: a hash of its bytes."""
    return hashlib.blake2b(body, digest_size=16).hexdigest()


def conditional(response: Response, *, cache_control: str = PRIVATE_NO_CACHE) -> Response:
    """`response` (a 200 of a GET or HEAD) with its ETag and `Cache-Control`, or a bodiless 304
    carrying them if the request's `If-None-Match` already names that ETag."""
    if response.status_code != 200 or request.method not in ("GET", "HEAD"):
        return response
    etag = body_etag(response.get_data())
    response.set_etag(etag)
    response.headers["Cache-Control"] = cache_control
    # The answer is the signed-in caller's: a cache must not hand it to another token.
    response.vary.add("Authorization")
    # If-None-Match compares weakly (RFC 9110 13.1.2): `W/"x"` matches our `"x"`, `*` any.
    if request.if_none_match.contains_weak(etag):
        not_modified = Response(status=304)
        for name in ("ETag", "Cache-Control", "Vary"):
            not_modified.headers[name] = response.headers[name]
        response.close()
        return not_modified
    return response


def revalidated(view: Callable[..., Any] | None = None, *,
                cache_control: str = PRIVATE_NO_CACHE) -> Any:
    """Put under `@documented(..., revalidated=True)`: the view's 200 gets an ETag and
    `cache_control`, and a matching `If-None-Match` gets a 304 without a body."""

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Response:
            return conditional(make_response(function(*args, **kwargs)),
                               cache_control=cache_control)

        return run

    return decorate(view) if view is not None else decorate
