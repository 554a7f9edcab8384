"""`python -m workers.flower`: Flower behind basic auth, refusing to start without it.

Flower's own basic auth guards only the handlers that ask for it: `/metrics` and `/healthcheck`
(task names, worker hostnames, counts), the static files and the error pages answer anyone.
So the Flower application is replaced by a subclass that checks the credentials before it even
routes a request: everything it serves is behind them. It listens on loopback unless
`FLOWER_ADDRESS` says otherwise (an operator reaches it through a tunnel or a proxy).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import sys
from typing import Any

from config import get_settings

REALM = 'Basic realm="flower"'


def credentials_match(header: str | None, allowed: list[str]) -> bool:
    """`Authorization: Basic base64(user:password)` naming one of `allowed`, compared in
    constant time."""
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        given = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return False
    matches = [hmac.compare_digest(given.encode(), entry.encode()) for entry in allowed]
    return any(matches)


def guarded_flower() -> type:
    """Flower's application class, with every request checked before routing."""
    import tornado.web
    from flower.app import Flower

    class Unauthorized(tornado.web.RequestHandler):
        SUPPORTED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

        def check_xsrf_cookie(self) -> None:
            """Nothing is done for this request but the 401, so no XSRF check (it would make
            an unauthenticated POST a 403 instead)."""

        def prepare(self) -> None:
            self.set_status(401)
            self.set_header("WWW-Authenticate", REALM)
            self.finish("Access denied")

    class GuardedFlower(Flower):
        def find_handler(self, request: Any, **kwargs: Any) -> Any:
            if not credentials_match(request.headers.get("Authorization"),
                                     list(self.options.basic_auth or [])):
                return self.get_handler_delegate(request, Unauthorized)
            return super().find_handler(request, **kwargs)

    return GuardedFlower


def main() -> None:
    settings = get_settings()
    credentials = settings.flower_basic_auth
    if not credentials or ":" not in credentials:
        sys.exit("FLOWER_BASIC_AUTH must be set to user:password; refusing to start Flower")
    port = os.environ.get("FLOWER_PORT", "5555")
    address = os.environ.get("FLOWER_ADDRESS") or "127.0.0.1"
    import flower.command
    from celery.bin.celery import main as celery_main

    # `celery flower` builds its application from this name when it starts.
    flower.command.Flower = guarded_flower()
    sys.argv = ["celery", "-A", "workers.celery_app", "flower", f"--port={port}",
                f"--address={address}", f"--basic-auth={credentials}"]
    sys.exit(celery_main())


if __name__ == "__main__":
    main()
