"""Behaviour events the app reports (API guide §7, roadmap 2.2)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from api.auth import authenticate, current_principal
from api.documented import Reply, documented
from api.limits import event_limit, limiter
from api.parsing import json_body
from api.responses import EventAccepted
from api.schemas import EventRequest
from models.events import EventName
from services.events import record_client_event

events = Blueprint("events", __name__, url_prefix="/api/events")
events.before_request(authenticate)


@events.post("")
@documented(operation_id="recordEvent", summary="Record what the app saw the user do",
            tag="events", body=EventRequest, rate_limited=True,
            responses={202: Reply("kept; the funnel counts it only when generationId names one "
                                  "of the caller's own completed headshots", EventAccepted)},
            errors={404: "not_found: generationId is not one of the caller's headshots"})
@limiter.limit(event_limit)
def record() -> tuple[Response, int]:
    body = json_body(EventRequest)
    record_client_event(user_id=current_principal().user_id, name=EventName(body.event),
                        job_id=body.generationId, properties=dict(body.properties))
    return jsonify({"status": "accepted"}), 202
