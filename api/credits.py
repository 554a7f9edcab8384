"""The caller's account (API guide §4): `/api/me` and the credit ledger."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from api.auth import authenticate, current_principal
from api.documented import Reply, documented
from api.limits import write_budget
from api.parsing import query_args
from api.responses import CreditHistoryPage, Me
from api.revalidation import revalidated
from api.schemas import CreditHistoryQuery
from services import accounts, library
from services.representations import account_json, credit_entry_json, page_json

credits = Blueprint("credits", __name__, url_prefix="/api")
credits.before_request(authenticate)


@credits.get("/me")
@documented(operation_id="getMe", summary="The caller's account, balance and features",
            tag="credits", revalidated=True, responses={200: Reply("the account", Me)})
@revalidated
def me() -> Response:
    principal = current_principal()
    return jsonify(account_json(accounts.account(user_id=principal.user_id,
                                                 email=principal.email)))


@credits.get("/credits/history")
@documented(operation_id="listCreditHistory", summary="The caller's credit ledger, newest first",
            tag="credits", query=CreditHistoryQuery, revalidated=True,
            responses={200: Reply("one page", CreditHistoryPage)})
@revalidated
def history() -> Response:
    query = query_args(CreditHistoryQuery)
    page = accounts.credit_history(user_id=current_principal().user_id, entry_type=query.type,
                                   limit=query.limit, before_id=query.before_id)
    return jsonify(page_json(page, credit_entry_json))


@credits.delete("/me")
@documented(operation_id="deleteMyData", summary="Delete every stored image of the caller",
            tag="credits", rate_limited=True,
            responses={204: Reply("originals, previews, results and thumbnails deleted, share "
                                  "links revoked, running headshots cancelled and refunded; the "
                                  "ledger and the balance stay. Idempotent")})
@write_budget
def delete_my_data() -> tuple[str, int]:
    library.delete_my_data(user_id=current_principal().user_id)
    return "", 204
