"""Job status for the app (contract §6): a cheap poll, or a stream of Server-Sent Events."""

from __future__ import annotations

import contextlib
import itertools
import json
import time
from collections.abc import Iterator

from flask import Blueprint, Response, jsonify, stream_with_context

from api.auth import authenticate, current_principal
from api.documented import STATUS_EVENTS, Reply, documented
from api.errors import ApiError
from api.responses import HeadshotStatus
from config import get_settings
from media import get_signer
from media.signed_urls import MediaUrlSigner
from services.representations import status_json
from services.status import (
    JobStatus,
    Updates,
    current_status,
    published,
    read_status,
    status_of,
    status_updates,
)

status = Blueprint("status", __name__, url_prefix="/api/headshots/status")
status.before_request(authenticate)

STREAM_SECONDS = 300  # then the client reconnects; a stream holds a server thread
KEEPALIVE_SECONDS = 15


def _status_within_limit(generation_id: int) -> JobStatus:
    job_status = current_status(user_id=current_principal().user_id,
                                generation_id=generation_id)
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
    return jsonify(status_json(_status_within_limit(generation_id), get_signer()))


@status.get("/<id:generation_id>/stream")
@documented(
    operation_id="streamHeadshotStatus", tag="headshots", rate_limited=True,
    summary="Server-Sent Events: the status object at each change",
    responses={200: Reply("one `status` event per change, its data the status object; closed "
                          "when the job ends", content=STATUS_EVENTS)},
)
def stream(generation_id: int) -> Response:
    """One event per change of the status object (progress included), closed when it ends."""
    user_id = current_principal().user_id
    _status_within_limit(generation_id)  # a 404 or 429 before any streaming
    signer = get_signer()

    def events() -> Iterator[str]:
        with contextlib.closing(status_updates(generation_id, timeout=STREAM_SECONDS)) as updates:
            yield from _changes(user_id, generation_id, updates, signer)

    return Response(stream_with_context(events()), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _changes(user_id: int, generation_id: int, updates: Updates, signer: MediaUrlSigner
             ) -> Iterator[str]:
    """The events of one stream: the state now, then each change, until the job ends."""
    snapshot, cached = read_status(user_id=user_id, generation_id=generation_id)
    last_sent: dict[str, object] | None = None
    quiet_since = time.monotonic()
    for update in itertools.chain([None], updates):  # first: the state right now
        if update is not None:
            snapshot, cached = update, published(update, cached)
        body = status_json(status_of(snapshot, cached), signer)
        if body != last_sent:
            yield f"event: status\ndata: {json.dumps(body)}\n\n"
            last_sent, quiet_since = body, time.monotonic()
        elif time.monotonic() - quiet_since > KEEPALIVE_SECONDS:
            yield ": keep-alive\n\n"
            quiet_since = time.monotonic()
        if snapshot.finished:
            return
