"""Fetching a signed `/media/...` URL through the in-process app, whichever storage the run uses.

With local storage the app sends the image itself; with an object store it answers 302 to the
store's presigned URL, which the test client cannot follow (the store is another server), so
this follows it over real HTTP, as a browser would.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests
from flask import Response


def fetch_media(client: Any, url: str, **kwargs: Any) -> Response:
    """The answer to GET `url` (its path and query): the app's own, or, after a redirect to the
    object store, the store's, with the app's redirect kept as `.redirected_by`."""
    parts = urlsplit(url)
    answer: Response = client.get(f"{parts.path}?{parts.query}" if parts.query else parts.path,
                                  **kwargs)
    answer.redirected_by = None  # type: ignore[attr-defined]
    if answer.status_code != 302:
        return answer
    stored = requests.get(answer.headers["Location"], timeout=10, allow_redirects=False)
    followed = Response(stored.content, status=stored.status_code,
                        headers={name: value for name, value in stored.headers.items()
                                 if name.lower() not in ("content-length", "transfer-encoding")})
    followed.redirected_by = answer  # type: ignore[attr-defined]
    return followed
