"""Job status for the app (API guide §6): a cheap poll, or a stream of Server-Sent Events,
opened with the bearer token or, from a browser's `EventSource` (which sends no header), at the
signed URL each status carries (`statusStreamUrl`, §12)."""

from __future__ import annotations

import contextlib
import json
import re
import select
import socket
import time
from collections.abc import Callable, Iterator

from flask import Blueprint, Response, request, stream_with_context
from pydantic import BaseModel, Field

from api.auth import authenticate, current_principal
from api.documented import EVENT_STREAM, Reply, documented
from api.errors import NOT_FOUND_MESSAGE, ApiError
from api.limits import rate_limit_headers
from api.responses import HeadshotStatus
from config import get_settings
from media import get_signer
from media.signed_urls import MediaUrlSigner
from models.job.snapshot import StatusSnapshot
from services.representations import status_json, with_stream_url
from services.status import (
    PolledStatus,
    Updates,
    current_status,
    published,
    read_status,
    status_of,
    status_updates,
)
from services.status_stream_urls import get_stream_signer
from services.stream_slots import get_stream_slots

status = Blueprint("status", __name__, url_prefix="/api/headshots/status")

STREAM_SECONDS = 300  # then the client reconnects
KEEPALIVE_SECONDS = 15
RETRY_MILLISECONDS = 2000  # how long an EventSource waits before it reconnects
LAST_EVENT_ID = re.compile(r"[0-9]{1,20}")  # an event id this service sent: a status version
SIGNED_STREAM_ENDPOINT = "status.signed_stream"
# The poll's body as Flask's jsonify writes it (compact, keys in order, a final newline), from
# one encoder made once: jsonify builds a new encoder per call, work repeated at every poll.
POLL_BODY = json.JSONEncoder(separators=(",", ":"))
STATUS_EVENTS = {  # a stream's body is text, not one JSON value: its schema is a string
    EVENT_STREAM: {
        "type": "string",
        "description": f"Server-Sent Events, UTF-8. First `retry: {RETRY_MILLISECONDS}` (the "
                       "milliseconds before a reconnect); then one event at each change: "
                       "`id: <the status's version, an integer that grows with each change>`, "
                       "`event: status`, `data: <the status object (HeadshotStatus) as JSON, "
                       "on one line>`. While only a processing job's estimate moves, events "
                       "repeat the id. A line starting with `:` is a keep-alive comment.",
        "examples": [f"retry: {RETRY_MILLISECONDS}\n\nid: 1765100000123456\nevent: status\n"
                     'data: {"id": 42, "status": "queued", "progress": 0, ...}\n\n'],
    },
}
RESUMING = ("A reconnect sends `Last-Event-ID` (an `EventSource` does so by itself): the state "
            "then is sent only if it is newer than that id; if the job has ended and the id is "
            "its last, the answer is `204` (an `EventSource` stops reconnecting). ")


class SignedStreamQuery(BaseModel):
    """What the signed stream reads from its URL (`statusStreamUrl`); it checks them by hand:
    any wrong, missing or expired value is the same 404."""

    user: str = Field(description="the headshot's owner")
    exp: str = Field(description="expiry, unix seconds")
    sig: str = Field(description="signature over the owner, the headshot and the expiry")


@status.before_request
def _authenticate() -> None:
    """Every status route takes the bearer token, but the signed stream: the signature of its
    URL is its authorization."""
    if request.endpoint != SIGNED_STREAM_ENDPOINT:
        authenticate()


def _status_within_limit(user_id: int, generation_id: int
                         ) -> tuple[PolledStatus, dict[str, str]]:
    """The status, and the status budget's RateLimit-* headers for the answer (none while the
    limits are off); past the budget, the 429."""
    job_status = current_status(user_id=user_id, job_id=generation_id)
    settings = get_settings()
    headers: dict[str, str] = {}
    if not settings.rate_limit_enabled:
        return job_status, headers
    limit = settings.rate_limit_status_per_minute
    # The budget is per clock minute; the read's number is its place among the user's reads.
    reset = 60 - int(time.time()) % 60
    rate_limit_headers(headers, limit=limit, remaining=limit - job_status.polls_this_minute,
                       reset_seconds=reset)
    if job_status.polls_this_minute > limit:
        headers["Retry-After"] = str(reset)
        raise ApiError(429, "rate_limited", f"more than {limit} status reads a minute",
                       headers)
    return job_status, headers


@status.get("/<id:generation_id>")
@documented(operation_id="getHeadshotStatus", summary="The status the app polls", tag="headshots",
            rate_limited=True, responses={200: Reply("current status", HeadshotStatus)})
def poll(generation_id: int) -> Response:
    """What the app polls every second or two: one Redis round trip while the job is known."""
    job_status, headers = _status_within_limit(current_principal().user_id, generation_id)
    body = status_json(job_status, get_signer())
    return Response(POLL_BODY.encode(body) + "\n", mimetype="application/json", headers=headers)


STREAM_ERRORS = {
    400: "invalid_request: `Last-Event-ID` is not an id this stream sends (digits)",
    429: "rate_limited: past the status-read budget; or too_many_streams: past "
         "STREAM_MAX_PER_USER streams open for the user, or STREAM_MAX_OPEN for the service "
         "(poll the status instead, or come back after `Retry-After`)",
}
STREAM_REPLIES = {
    200: Reply("one `status` event per change, its data the status object; closed when the job "
               "ends", content=STATUS_EVENTS),
    204: Reply("a reconnect whose `Last-Event-ID` is the ended job's last event: nothing more "
               "will come"),
}
STREAM_LIMITS = ("A stream ends when the job ends, or after 300 s (reconnect then). A user may "
                 "have STREAM_MAX_PER_USER (5) streams open at once, the service "
                 "STREAM_MAX_OPEN (1000) in all. ")


@status.get("/<id:generation_id>/stream")
@documented(
    operation_id="streamHeadshotStatus", tag="headshots", rate_limited=True,
    summary="Server-Sent Events: the status object at each change",
    description=STREAM_LIMITS + RESUMING + "A browser opens `statusStreamUrl` instead: an "
                "`EventSource` cannot send the token.",
    errors=STREAM_ERRORS, responses=STREAM_REPLIES,
)
def stream(generation_id: int) -> Response:
    """One event per change of the status object (progress included), closed when it ends."""
    return _stream(current_principal().user_id, generation_id)


@status.get("/<id:generation_id>/signed-stream")
@documented(
    operation_id="streamHeadshotStatusSigned", tag="headshots", auth="public",
    query=SignedStreamQuery, bad_input_status=404, rate_limited=True,
    summary="The same stream at its signed URL (`statusStreamUrl`): no token needed",
    description="For a browser's `EventSource`, which cannot send an `Authorization` header: "
                "the signature is the authorization, for one headshot of one user, for an "
                "hour; a fresh URL comes with each status read and each event. Any wrong, "
                "missing or expired signature, or one of another headshot, is the same 404. "
                "The owner's budgets and stream slots apply as to the bearer stream. "
                + STREAM_LIMITS + RESUMING,
    errors=STREAM_ERRORS, responses=STREAM_REPLIES,
)
def signed_stream(generation_id: int) -> Response:
    user_id = get_stream_signer().owner(
        generation_id, user=request.args.get("user", ""), exp=request.args.get("exp", ""),
        sig=request.args.get("sig", ""))
    if user_id is None:
        raise ApiError(404, "not_found", NOT_FOUND_MESSAGE)
    return _stream(user_id, generation_id)


def _last_event_id() -> int | None:
    """The version of the last event the client got, from a reconnect's `Last-Event-ID`."""
    value = request.headers.get("Last-Event-ID")
    if not value:  # none, or empty: an EventSource that has had no event yet
        return None
    if LAST_EVENT_ID.fullmatch(value) is None:
        raise ApiError(400, "invalid_request",
                       "Last-Event-ID: expected an event id of this stream (digits)")
    return int(value)


def _stream(user_id: int, generation_id: int) -> Response:
    """The user's stream of the job: its state now (unless the client already has it), then
    each change, until the job ends."""
    seen = _last_event_id()
    # A 404 or 429 before any streaming.
    polled, limit_headers = _status_within_limit(user_id, generation_id)
    if seen is not None and polled.snapshot.finished and polled.snapshot.version <= seen:
        # The client has the final event: a 204 stops its EventSource reconnecting.
        return Response(status=204)
    slot = get_stream_slots().acquire(user_id, now=time.monotonic())  # TooManyStreams: 429
    try:
        signer = get_signer()
        client = request.environ.get("gunicorn.socket")

        def still_wanted() -> bool:
            slot.renew(time.monotonic())
            return client is None or not _hung_up(client)

        def events() -> Iterator[str]:
            with contextlib.closing(status_updates(generation_id, timeout=STREAM_SECONDS)
                                    ) as updates:
                yield f"retry: {RETRY_MILLISECONDS}\n\n"
                yield from _changes(user_id, generation_id, updates, signer, still_wanted,
                                    seen=seen)

        response = Response(stream_with_context(events()), mimetype="text/event-stream",
                            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no",
                                     **limit_headers})
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
             still_wanted: Callable[[], bool], *, seen: int | None) -> Iterator[str]:
    """The events of one stream: the state now, unless the client has it already (`seen`: its
    Last-Event-ID, that version or a newer one), then each change, until the job ends (or
    `still_wanted`, asked at each tick, says no). No event goes back to an older version."""
    snapshot, cached = read_status(user_id=user_id, job_id=generation_id)
    body = status_json(status_of(snapshot, cached), signer, stream_url=False)
    newest = -1 if seen is None else seen  # the newest version the client holds
    if snapshot.version > newest:
        yield _event(body, user_id, snapshot)
        newest = snapshot.version
    last_sent, quiet_since = body, time.monotonic()
    if snapshot.finished or not still_wanted():
        return
    for update in updates:
        if update is not None:
            snapshot, cached = update, published(update, cached)
        if update is None and not snapshot.moves_with_time:
            # A tick, and nothing that could have changed the body: rebuilding it each second
            # was most of what a waiting stream cost the process.
            body = last_sent
        else:
            body = status_json(status_of(snapshot, cached), signer, stream_url=False)
        if body != last_sent and snapshot.version >= newest:
            yield _event(body, user_id, snapshot)
            last_sent, newest, quiet_since = body, snapshot.version, time.monotonic()
        elif time.monotonic() - quiet_since > KEEPALIVE_SECONDS:
            yield ": keep-alive\n\n"
            quiet_since = time.monotonic()
        if snapshot.finished or not still_wanted():
            return


def _event(body: dict[str, object], user_id: int, snapshot: StatusSnapshot) -> str:
    """One `status` event: its id the state's version, its data the status object with a fresh
    signed URL of this stream (a client keeps it to reconnect after the hour)."""
    data = json.dumps(with_stream_url(body, user_id, snapshot.id))
    return f"id: {snapshot.version}\nevent: status\ndata: {data}\n\n"
