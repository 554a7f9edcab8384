"""Operator routes (contract §4, §8): admin tokens only."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from api.auth import require_admin
from api.documented import Reply, documented
from api.limits import limit_admin_routes
from api.parsing import json_body
from api.responses import CreditsGranted
from api.schemas import GrantCreditsRequest
from services import accounts

admin = limit_admin_routes(Blueprint("admin", __name__, url_prefix="/api/admin"))
admin.before_request(require_admin)


@admin.post("/users/<id:user_id>/credits")
@documented(
    operation_id="grantCredits", summary="Grant credits to a user (created if new)", tag="admin",
    auth="admin", body=GrantCreditsRequest, rate_limited=True,
    responses={201: Reply("granted", CreditsGranted)},
    errors={409: "balance_limit_exceeded: the balance would pass 2147483647 credits"},
)
def grant(user_id: int) -> tuple[Response, int]:
    body = json_body(GrantCreditsRequest)
    entry = accounts.grant(user_id=user_id, amount=body.amount, reason=body.reason)
    return jsonify({"userId": user_id, "balance": entry.balance_after}), 201
