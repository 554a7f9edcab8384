"""The caller's account (contract §4): `/api/me` and the credit ledger."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from api.auth import authenticate, current_principal
from api.documented import Reply, documented
from api.parsing import query_args
from api.responses import CreditHistoryPage, Me
from api.schemas import CreditHistoryQuery, encode_cursor
from api.serializers import credit_entry_json, user_json
from models.credits import list_entries
from models.db import unit_of_work
from models.users import ensure_user

credits = Blueprint("credits", __name__, url_prefix="/api")
credits.before_request(authenticate)


@credits.get("/me")
@documented(operation_id="getMe", summary="The caller's account and balance", tag="credits",
            responses={200: Reply("the account", Me)})
def me() -> Response:
    principal = current_principal()
    with unit_of_work() as db_session:
        user = ensure_user(db_session, user_id=principal.user_id, email=principal.email)
        db_session.commit()
        return jsonify(user_json(user))


@credits.get("/credits/history")
@documented(operation_id="listCreditHistory", summary="The caller's credit ledger, newest first",
            tag="credits", query=CreditHistoryQuery,
            responses={200: Reply("one page", CreditHistoryPage)})
def history() -> Response:
    query = query_args(CreditHistoryQuery)
    with unit_of_work() as db_session:
        page = list_entries(
            db_session, user_id=current_principal().user_id, entry_type=query.type,
            limit=query.limit + 1, before_id=query.before_id,
        )
        more = len(page) > query.limit
        page = page[: query.limit]
        return jsonify({
            "data": [credit_entry_json(entry) for entry in page],
            "nextCursor": encode_cursor(page[-1].id) if more else None,
        })
