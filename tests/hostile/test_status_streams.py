"""Status streams (`GET /api/headshots/status/{id}/stream`) held open by the hundred: they must
not starve anybody else's requests, and they are bounded, per user and in all, with the §3 429.

Over the real gunicorn, started as the Procfile starts it. Each stream follows a job that stays
queued (no worker takes it), so it stays open until its client closes it.
"""

from __future__ import annotations

import contextlib
import socket
import struct
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests

from devstack.processes import free_port, wait_for_web, web_service
from devstack.waiting import wait_until
from tests.support.domain import funded_user, make_job, stored_upload
from tests.support.errors import assert_error
from tests.support.hostile import tried
from tests.support.live import LiveServer
from tests.support.session import RUN_DIR
from tests.support.users import auth

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")

STREAMS_PER_USER = 5  # STREAM_MAX_PER_USER's default
OPEN_STREAMS = 300


def stream_path(job_id: int) -> str:
    return f"/api/headshots/status/{job_id}/stream"


def queued_job(user_id: int) -> int:
    return int(make_job(user_id, stored_upload(user_id), "queued")["id"])


def open_stream(base: str, user_id: int, job_id: int) -> socket.socket:
    """A stream held open on a raw socket, once its first event arrived (so the server is
    serving it, not just holding the connection)."""
    parts = urlsplit(base)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    head = (f"GET {stream_path(job_id)} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Authorization: {auth(user_id)['Authorization']}\r\n\r\n")
    sock.sendall(head.encode())
    received = b""
    try:
        while b"event: status" not in received:
            chunk = sock.recv(4096)
            assert chunk, f"stream of job {job_id} closed before its first event: {received!r}"
            received += chunk
    except BaseException:
        sock.close()
        raise
    assert received.startswith(b"HTTP/1.1 200"), received[:300]
    return sock


def kill(sock: socket.socket) -> None:
    """Close with a reset, as a client that died does (no orderly goodbye)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def stream_request(base: str, user_id: int, job_id: int) -> requests.Response:
    tried("status streams")
    return requests.get(base + stream_path(job_id), headers=auth(user_id), stream=True,
                        timeout=10)


def test_hundreds_of_open_streams_leave_other_requests_answered(web: str) -> None:
    """300 streams across 60 users (each at the per-user bound), held open while /healthz,
    status polls and a generate all answer: a stream holds a greenlet, not a server thread."""
    server = LiveServer(web)
    streams: list[socket.socket] = []
    try:
        for _ in range(OPEN_STREAMS // STREAMS_PER_USER):
            user_id = funded_user(1)
            job_id = queued_job(user_id)
            for _ in range(STREAMS_PER_USER):
                streams.append(open_stream(web, user_id, job_id))
        tried("status streams", len(streams))
        poller = server.user(credits=2)
        polled_job = poller.queue()
        for _ in range(20):
            assert server.call("GET", "/healthz", timeout=5).status_code == 200
            assert poller.status(polled_job["id"]).status_code == 200
        response = poller.generate(poller.upload(), "creative")
        assert response.status_code == 202, response.text
        # And every stream is still open: nothing was dropped to make room.
        for sock in streams:
            sock.settimeout(0)
            with contextlib.suppress(BlockingIOError):  # raised: open, nothing new to say
                assert sock.recv(4096, socket.MSG_PEEK) != b"", "a stream was closed"
    finally:
        for sock in streams:
            sock.close()


def test_past_the_per_user_bound_a_stream_is_refused_until_one_closes(web: str) -> None:
    user_id = funded_user(1)
    job_id = queued_job(user_id)
    held = [stream_request(web, user_id, job_id) for _ in range(STREAMS_PER_USER)]
    try:
        assert [response.status_code for response in held] == [200] * STREAMS_PER_USER
        refused = stream_request(web, user_id, job_id)
        assert_error(refused, 429, "too_many_streams")
        # Another user is not affected.
        other = funded_user(1)
        with stream_request(web, other, queued_job(other)) as response:
            assert response.status_code == 200
        # A stream its client closes frees its slot.
        held.pop().close()
        held.append(reopened(web, user_id, job_id, within=30))
    finally:
        for response in held:
            response.close()


def test_a_killed_stream_frees_its_slot_within_the_lease(web: str) -> None:
    user_id = funded_user(1)
    job_id = queued_job(user_id)
    sockets = [open_stream(web, user_id, job_id) for _ in range(STREAMS_PER_USER)]
    try:
        assert_error(stream_request(web, user_id, job_id), 429, "too_many_streams")
        kill(sockets.pop())
        # STREAM_LEASE_SECONDS (30) is the most it may take; the server notices far sooner.
        reopened(web, user_id, job_id, within=35).close()
    finally:
        for sock in sockets:
            sock.close()


def reopened(base: str, user_id: int, job_id: int, *, within: float) -> requests.Response:
    """A new stream of the user, once a slot has freed (429 until then)."""

    def opened() -> requests.Response | None:
        response = stream_request(base, user_id, job_id)
        if response.status_code == 200:
            return response
        assert_error(response, 429, "too_many_streams")
        response.close()
        return None

    response = wait_until(opened, timeout=within, interval=0.5, message="a slot to free")
    assert isinstance(response, requests.Response)
    return response


@pytest.fixture(scope="module")
def small_web(web: str) -> Iterator[str]:
    """A second web process on the same database and Redis, allowing 3 streams in all: the
    bound is the service's, so the first server's streams count against it too."""
    port = free_port()
    service = web_service(port, RUN_DIR, name="web-small-stream-bound",
                          env={"STREAM_MAX_OPEN": "3"}).start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_web(service, base)
        yield base
    finally:
        service.stop()


def test_past_the_service_bound_a_stream_is_refused_on_every_process(web: str,
                                                                     small_web: str) -> None:
    from services.redis_client import get_redis
    from services.stream_slots import ALL_KEY

    # The earlier tests' streams are closed; wait until the service counts none open.
    wait_until(lambda: get_redis().zcard(ALL_KEY) == 0, timeout=35, interval=0.5,
               message="every earlier stream's slot to free")
    users = [funded_user(1) for _ in range(4)]
    jobs = [queued_job(user_id) for user_id in users]
    held = [stream_request(web, users[0], jobs[0]),
                       stream_request(web, users[1], jobs[1]),
                       stream_request(small_web, users[2], jobs[2])]
    try:
        assert [response.status_code for response in held] == [200, 200, 200]
        refused = stream_request(small_web, users[3], jobs[3])
        assert_error(refused, 429, "too_many_streams")
        assert int(refused.headers["Retry-After"]) > 0
        held.pop(0).close()
        held.append(reopened(small_web, users[3], jobs[3], within=30))
    finally:
        for response in held:
            response.close()
