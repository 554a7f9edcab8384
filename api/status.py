"""Job status for the app (contract §6): a cheap poll, or a stream of Server-Sent Events."""

from __future__ import annotations

import contextlib
import itertools
import json
import select
import socket
import time
from collections.abc import Callable, Iterator

from flask import Blueprint, Response, request, stream_with_context

from api.auth import authenticate, current_principal
from api.documented import STATUS_EVENTS, Reply, documented
from api.errors import ApiError
from api.responses import HeadshotStatus
from config import get_settings
from media import get_signer
from media.signed_urls import MediaUrlSigner
from services.representations import status_json
from services.status import (
    PolledStatus,
    Updates,
    current_status,
    published,
    read_status,
    status_of,
    status_updates,
)
from services.stream_slots import TooManyStreams, get_stream_slots

status = Blueprint("status", __name__, url_prefix="/api/headshots/status")
status.before_request(authenticate)

STREAM_SECONDS = 300  # then the client reconnects
KEEPALIVE_SECONDS = 15
# The poll's body as Flask's jsonify writes it (compact, keys in order, a final newline), from
# one encoder made once: jsonify builds a new encoder per call, work repeated at every poll.
POLL_BODY = json.JSONEncoder(separators=(",", ":"))


def _status_within_limit(generation_id: int) -> PolledStatus:
    job_status = current_status(user_id=current_principal().user_id,
                                job_id=generation_id)
    settings = get_settings()
    limit = settings.rate_limit_status_per_minute
    if settings.rate_limit_enabled and job_status.polls_this_minute > limit:
        raise ApiError(429, "rate_limited", f"more than {limit} status reads a minute",
                       {"Retry-After": str(60 - int(time.time()) % 60)})
    return job_status


@status.get("/<id:generation_id>")
@documented(operation_id="getHeadshotStatus", summary="The status the app polls", tag="headshots",
            rate_limited=True, responses={200: Reply("current status", HeadshotStatus)})
def poll(generation_id: int) -> Response:
    """What the app polls every second or two: one Redis round trip while the job is known."""
    body = status_json(_status_within_limit(generation_id), get_signer())
    return Response(POLL_BODY.encode(body) + "\n", mimetype="application/json")


@status.get("/<id:generation_id>/stream")
@documented(
    operation_id="streamHeadshotStatus", tag="headshots", rate_limited=True,
    summary="Server-Sent Events: the status object at each change",
    description="A stream ends when the job ends, or after 300 s (reconnect then). A user "
                "may have STREAM_MAX_PER_USER (5) streams open at once, the service "
                "STREAM_MAX_OPEN (1000) in all.",
    errors={429: "rate_limited: past the status-read budget; or too_many_streams: past "
                 "STREAM_MAX_PER_USER streams open for the user, or STREAM_MAX_OPEN for the "
                 "service (poll the status instead, or come back after `Retry-After`)"},
    responses={200: Reply("one `status` event per change, its data the status object; closed "
                          "when the job ends", content=STATUS_EVENTS)},
)
def stream(generation_id: int) -> Response:
    """One event per change of the status object (progress included), closed when it ends."""
    user_id = current_principal().user_id
    _status_within_limit(generation_id)  # a 404 or 429 before any streaming
    try:
        slot = get_stream_slots().acquire(user_id, now=time.monotonic())
    except TooManyStreams as refused:
        raise ApiError(429, refused.code, refused.message,
                       {"Retry-After": str(refused.retry_after_seconds)}) from None
    try:
        signer = get_signer()
        client = request.environ.get("gunicorn.socket")

        def still_wanted() -> bool:
            slot.renew(time.monotonic())
            return client is None or not _hung_up(client)

        def events() -> Iterator[str]:
            with contextlib.closing(status_updates(generation_id, timeout=STREAM_SECONDS)
                                    ) as updates:
                yield from _changes(user_id, generation_id, updates, signer, still_wanted)

        response = Response(stream_with_context(events()), mimetype="text/event-stream",
                            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    except BaseException:
        slot.release()  # no response will ever close it
        raise
    # Called by the server when the stream ends, however it ends (the job ended, the client
    # left, the lifetime ran out): the slot is free for the user's next stream at once.
    response.call_on_close(slot.release)
    return response


def _hung_up(client: socket.socket) -> bool:
    """Whether the stream's client closed its end. It sends nothing after its request, so a
    readable socket is one at its end (recv gives b"") or broken; without this the server
    would notice only when a write failed, up to two keep-alives later."""
    waiting = select.poll()  # not select.select: a worker's sockets go past its 1024 limit
    waiting.register(client, select.POLLIN)
    if not waiting.poll(0):
        return False
    try:
        return client.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def _changes(user_id: int, generation_id: int, updates: Updates, signer: MediaUrlSigner,
             still_wanted: Callable[[], bool]) -> Iterator[str]:
    """The events of one stream: the state now, then each change, until the job ends (or
    `still_wanted`, asked at each tick, says no)."""
    snapshot, cached = read_status(user_id=user_id, job_id=generation_id)
    last_sent: dict[str, object] | None = None
    quiet_since = time.monotonic()
    for update in itertools.chain([None], updates):  # first: the state right now
        if update is not None:
            snapshot, cached = update, published(update, cached)
        if update is None and last_sent is not None and not snapshot.moves_with_time:
            # A tick, and nothing that could have changed the body: rebuilding it each second
            # was most of what a waiting stream cost the process.
            body = last_sent
        else:
            body = status_json(status_of(snapshot, cached), signer)
        if body != last_sent:
            yield f"event: status\ndata: {json.dumps(body)}\n\n"
            last_sent, quiet_since = body, time.monotonic()
        elif time.monotonic() - quiet_since > KEEPALIVE_SECONDS:
            yield ": keep-alive\n\n"
            quiet_since = time.monotonic()
        if snapshot.finished or not still_wanted():
            return
