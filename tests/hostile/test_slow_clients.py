"""Clients that send a request slowly, or stop half-way: they must not delay anybody else, and
the server must close them once the request is late (REQUEST_ARRIVAL_SECONDS, default 10 s).

- a slow body: the head says `Content-Length: 1000`, 3 bytes of body follow, then nothing: the
  §3 408, then the connection is closed;
- a slow head (slowloris): a header line a byte at a time, never finished: closed.

Over the real gunicorn, started as the Procfile starts it, on raw sockets.
"""

from __future__ import annotations

import http.client
import io
import json
import socket
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.hostile import tried
from tests.support.users import auth, new_user_id

pytestmark = pytest.mark.usefixtures("stack")

CONNECTIONS = 20
ARRIVAL_SECONDS = 10  # REQUEST_ARRIVAL_SECONDS's default
# When the slowest of them must have been closed: the bound, plus generous room for a loaded
# machine (a liveness deadline, not a measure of speed).
CLOSED_WITHIN = ARRIVAL_SECONDS + 20


class SlowClient:
    """One raw connection to the server, and what the server has sent on it so far."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
        self.sock.settimeout(0)
        self.received = b""

    def send(self, data: bytes) -> bool:
        """Sends, unless the server has closed the connection; returns whether it is open."""
        if self.closed_by_server():
            return False
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            return False
        return True

    def closed_by_server(self) -> bool:
        """Whether the server has closed its end (what it sent before is kept)."""
        try:
            while data := self.sock.recv(65536):
                self.received += data
        except BlockingIOError:
            return False
        except ConnectionResetError:
            pass
        return True

    def response(self) -> http.client.HTTPResponse:
        response = http.client.HTTPResponse(_Replay(self.received))  # type: ignore[arg-type]
        response.begin()
        return response


class _Replay:
    """Bytes already received, shaped as the socket `http.client` reads a response from."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def makefile(self, mode: str) -> io.BytesIO:
        return io.BytesIO(self._data)


def healthz_answers_while(base: str, waiting: Callable[[], bool]) -> int:
    """Calls /healthz over and over while `waiting()` holds; each must answer 200 in time.
    Returns how many it made."""
    calls = 0
    deadline = time.monotonic() + CLOSED_WITHIN
    while waiting():
        assert time.monotonic() < deadline, "the server kept the slow clients past the bound"
        response = requests.get(base + "/healthz", timeout=5)
        assert response.status_code == 200, response.text
        calls += 1
        time.sleep(0.5)
    return calls


def test_slow_bodies_do_not_delay_others_and_get_a_408(web: str) -> None:
    parts = urlsplit(web)
    head = (f"POST /api/headshots/generate HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Authorization: {auth(new_user_id())['Authorization']}\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n").encode()
    slow = [SlowClient(web) for _ in range(CONNECTIONS)]
    tried("slow clients", len(slow))
    try:
        for client in slow:
            assert client.send(head + b'{"i')  # 3 bytes of the 1000, then nothing
        started = time.monotonic()
        assert healthz_answers_while(
            web, lambda: not all(client.closed_by_server() for client in slow)) > 0
        assert time.monotonic() - started >= ARRIVAL_SECONDS * 0.9, "closed before the bound"
        for client in slow:
            response = client.response()
            assert response.status == 408, client.received[:300]
            assert response.getheader("Content-Type", "").startswith("application/json")
            assert json.loads(response.read()) == {"error": {
                "code": "request_timeout",
                "message": "the request body did not arrive in time"}}
    finally:
        for client in slow:
            client.sock.close()


def test_slow_heads_do_not_delay_others_and_are_closed(web: str) -> None:
    """Slowloris: each connection sends a header line a byte at a time and never ends it."""
    parts = urlsplit(web)
    slow = [SlowClient(web) for _ in range(CONNECTIONS)]
    tried("slow clients", len(slow))
    try:
        for client in slow:
            assert client.send(f"GET /healthz HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                               "X-Slow: ".encode())
        started = time.monotonic()
        open_ones = list(slow)

        def some_still_open() -> bool:
            open_ones[:] = [client for client in open_ones if client.send(b"x")]
            return bool(open_ones)

        assert healthz_answers_while(web, some_still_open) > 0
        assert time.monotonic() - started >= ARRIVAL_SECONDS * 0.9, "closed before the bound"
        # No complete request, so nothing to answer: the connection is just closed.
        assert all(client.received == b"" for client in slow), [
            client.received[:100] for client in slow if client.received]
    finally:
        for client in slow:
            client.sock.close()
