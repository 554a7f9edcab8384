"""Operator routes (API guide §4, §8, §14): admin tokens only."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from api.auth import current_principal, require_admin
from api.documented import Reply, documented
from api.errors import ApiError
from api.limits import limit_admin_routes
from api.parsing import json_body, query_args
from api.responses import (
    Analytics,
    AuditPage,
    CreditsGranted,
    Failures,
    FlagItem,
    FlagList,
    Refunded,
    UserFile,
)
from api.schemas import (
    AnalyticsQuery,
    FailuresQuery,
    FlagUpdateRequest,
    GrantCreditsRequest,
    PageQuery,
    RefundRequest,
    UserEmailQuery,
)
from services import accounts, support
from services import admin as admin_service
from services import analytics as analytics_service
from services import flags as flag_service
from services.representations import (
    analytics_json,
    audit_entry_json,
    failure_page_json,
    flag_json,
    page_json,
)
from services.support_representations import user_file_json

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
@documented(operation_id="listFailures", summary="Failed headshots, newest failure first",
            tag="admin", auth="admin", query=FailuresQuery,
            responses={200: Reply("one page, by when each failed, with its error code; a "
                                  "user's own cancels left out unless code=cancelled",
                                  Failures)},
            errors={400: "invalid_request: `to` before `from`, or a cursor this list did not "
                         "issue (it encodes a time)"})
def failures() -> Response:
    query = query_args(FailuresQuery)
    page = admin_service.failures(
        failed_from=query.failed_from, failed_to=query.failed_to, code=query.code,
        style=query.style, user_id=query.userId, limit=query.limit, after=query.after)
    return jsonify(failure_page_json(page))


# ---- support (§14) -----------------------------------------------------------------------------


@admin.get("/users/<string:user_id>")
@documented(operation_id="getUserFile", summary="One user's account, for support (audited)",
            tag="admin", auth="admin",
            responses={200: Reply("balance, ledger, headshots, events, share links, webhook "
                                  "deliveries, devices, push deliveries; the look is written "
                                  "to the audit log",
                                  UserFile)},
            errors={400: "invalid_request: userId is not a positive whole number of at most 18 "
                         "digits",
                    404: "not_found: no such user (the look is audited all the same)"})
def user_file(user_id: str) -> Response:
    found = support.look_up_user(operator_id=current_principal().user_id,
                                 user_id=_user_id(user_id))
    return jsonify(user_file_json(found))


@admin.get("/users")
@documented(operation_id="findUserByEmail", summary="A user's account by email, for support "
                                                    "(audited)",
            tag="admin", auth="admin", query=UserEmailQuery,
            responses={200: Reply("the newest user with the email (any case); the others "
                                  "with it in sameEmailUserIds; audited", UserFile)},
            errors={404: "not_found: nobody has this email (the search is audited all the same)"})
def user_file_by_email() -> Response:
    query = query_args(UserEmailQuery)
    found = support.look_up_email(operator_id=current_principal().user_id, email=query.email)
    return jsonify(user_file_json(found))


def _user_id(text: str) -> int:
    """The path's user id: 1 to 18 digits, at least 1 (a 400 naming `userId` otherwise)."""
    if not (text.isascii() and text.isdigit()) or len(text) > 18 or int(text) < 1:
        raise ApiError(400, "invalid_request",
                       "userId: a positive whole number of at most 18 digits")
    return int(text)


# ---- feature flags (§14) -----------------------------------------------------------------------


@admin.get("/flags")
@documented(operation_id="listFlags", summary="Every feature flag and how it is set",
            tag="admin", auth="admin",
            responses={200: Reply("batch, export, share, push, then style:<id> per style; a "
                                  "flag never set is on for everyone (updatedAt null)",
                                  FlagList)})
def list_flags() -> Response:
    return jsonify({"data": [flag_json(flag) for flag in flag_service.list_flags()]})


@admin.put("/flags/<flag_name>")
@documented(operation_id="setFlag", summary="Turn a feature flag on or off, or roll it out",
            tag="admin", auth="admin", body=FlagUpdateRequest, rate_limited=True,
            responses={200: Reply("the flag as set; written to the flag audit, and every web "
                                  "and worker process follows within about a second",
                                  FlagItem)})
def set_flag(flag_name: str) -> Response:
    body = json_body(FlagUpdateRequest)
    flag = flag_service.set_flag(operator_id=current_principal().user_id, name=flag_name,
                                 enabled=body.enabled, percentage=body.percentage,
                                 users=body.users)
    return jsonify(flag_json(flag))
