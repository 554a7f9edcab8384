"""Operator routes (contract §4, §8): admin tokens only."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from api.auth import current_principal, require_admin
from api.documented import Reply, documented
from api.limits import limit_admin_routes
from api.parsing import json_body, query_args
from api.responses import Analytics, AuditPage, CreditsGranted, Failures, Refunded
from api.schemas import (
    AnalyticsQuery,
    FailuresQuery,
    GrantCreditsRequest,
    PageQuery,
    RefundRequest,
)
from services import accounts
from services import admin as admin_service
from services import analytics as analytics_service
from services.representations import (
    analytics_json,
    audit_entry_json,
    failure_json,
    page_json,
)

admin = limit_admin_routes(Blueprint("admin", __name__, url_prefix="/api/admin"))
admin.before_request(require_admin)


@admin.post("/users/<id:user_id>/credits")
@documented(operation_id="grantCredits", summary="Grant credits to a user (created if new)",
            tag="admin", auth="admin", body=GrantCreditsRequest, rate_limited=True,
            responses={201: Reply("granted; written to the audit log", CreditsGranted)},
            errors={409: "balance_limit_exceeded: the balance and the credits charged for "
                         "headshots would pass 2147483647 credits"})
def grant(user_id: int) -> tuple[Response, int]:
    body = json_body(GrantCreditsRequest)
    entry = accounts.grant(operator_id=current_principal().user_id, user_id=user_id,
                           amount=body.amount, reason=body.reason)
    return jsonify({"userId": user_id, "balance": entry.balance_after}), 201


@admin.post("/headshots/<id:generation_id>/refund")
@documented(operation_id="refundHeadshot", summary="Refund a completed headshot's credits",
            tag="admin", auth="admin", body=RefundRequest,
            responses={200: Reply("refunded; written to the audit log", Refunded)},
            errors={409: "already_refunded (by an operator, or automatically when it failed), "
                         "or generation_in_progress"})
def refund(generation_id: int) -> Response:
    body = json_body(RefundRequest)
    entry = accounts.refund(operator_id=current_principal().user_id,
                            job_id=generation_id, reason=body.reason)
    return jsonify({"generationId": generation_id, "refundedAmount": entry.amount,
                    "balance": entry.balance_after})


@admin.get("/audit")
@documented(operation_id="listAudit", summary="Operators' grants and refunds, newest first",
            tag="admin", auth="admin", query=PageQuery,
            responses={200: Reply("one page: who, when, why", AuditPage)})
def audit() -> Response:
    query = query_args(PageQuery)
    page = accounts.audit_log(limit=query.limit, before_id=query.before_id)
    return jsonify(page_json(page, audit_entry_json))


@admin.get("/analytics")
@documented(operation_id="getAnalytics", summary="Style popularity, success, timing, funnel",
            tag="admin", auth="admin", query=AnalyticsQuery,
            responses={200: Reply("past days from the nightly rollup, today from live rows",
                                  Analytics)})
def analytics() -> Response:
    query = query_args(AnalyticsQuery)
    return jsonify(analytics_json(analytics_service.report(query.first, query.last)))


@admin.get("/failures")
@documented(operation_id="listFailures", summary="The latest failed headshots, newest first",
            tag="admin", auth="admin", query=FailuresQuery,
            responses={200: Reply("with their error codes; a user's own cancels left out",
                                  Failures)})
def failures() -> Response:
    query = query_args(FailuresQuery)
    rows = admin_service.recent_failures(limit=query.limit)
    return jsonify({"data": [failure_json(row) for row in rows]})
