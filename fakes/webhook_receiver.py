"""A stand-in for the main app's webhook endpoint: a real HTTP server on loopback that verifies
Standard Webhooks signatures, answers 500 to the first few attempts of each message if told to,
and records what it accepted.

    with WebhookReceiver(secret, failures_per_message=2) as receiver:
        ... receiver.url ...
        receiver.delivered()   # {webhook-id: payload} of the accepted ones
"""

from __future__ import annotations

import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def webhook_url(port: int) -> str:
    """Where a receiver on `port` listens."""
    return f"http://127.0.0.1:{port}/hooks/headshots"


class WebhookReceiver:
    """Listens on 127.0.0.1:`port` (0: a free one) from construction, answers from `__enter__`."""

    def __init__(self, secret: str, *, failures_per_message: int = 0, port: int = 0) -> None:
        self._webhook = Webhook(secret)
        self.failures_per_message = failures_per_message
        self._lock = threading.Lock()
        self.attempts: Counter[str] = Counter()  # webhook-id -> requests seen
        self.rejected_signatures = 0
        self._accepted: dict[str, dict[str, Any]] = {}
        self._duplicates = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return webhook_url(int(self._server.server_address[1]))

    def delivered(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return dict(self._accepted)

    @property
    def duplicates(self) -> int:
        """Accepted deliveries of a message already accepted (at least once allows them)."""
        with self._lock:
            return self._duplicates

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _receive(self, headers: dict[str, str], body: bytes) -> int:
        try:
            payload = self._webhook.verify(body, headers)
        except WebhookVerificationError:
            with self._lock:
                self.rejected_signatures += 1
            return 401
        message_id = headers["webhook-id"]
        with self._lock:
            self.attempts[message_id] += 1
            if self.attempts[message_id] <= self.failures_per_message:
                return 500
            if message_id in self._accepted:
                self._duplicates += 1
            self._accepted[message_id] = payload
        return 204

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {name.lower(): value for name, value in self.headers.items()}
                status = receiver._receive(headers, body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: the test reports what matters

        return Handler



