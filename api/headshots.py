"""Headshot routes (API guide §6): styles, generate, retry, history, favorites, cancel, delete."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, url_for

from api.auth import authenticate, current_principal
from api.documented import Reply, documented
from api.limits import write_budget
from api.parsing import idempotency, json_body, query_args
from api.responses import Headshot, HeadshotPage, StyleList
from api.revalidation import revalidated
from api.schemas import FavoritesQuery, GenerateRequest, HistoryQuery
from media import get_signer
from models.job.table import Job
from services import library
from services.representations import headshot_json, page_json, style_json
from services.submissions import resubmit_job, submit_job

headshots = Blueprint("headshots", __name__, url_prefix="/api/headshots")
headshots.before_request(authenticate)

# Styles change only when operators edit them: the app may reuse the list for a few minutes
# without asking (what it is charged is the price at generate time, whatever it showed).
STYLES_CACHE_CONTROL = "private, max-age=300"


@headshots.get("/styles")
@documented(operation_id="listStyles", summary="The styles on offer and what each costs",
            tag="headshots", revalidated=True,
            responses={200: Reply("the active styles on offer to the caller: a style whose "
                                  "flag `style:<id>` is off for the caller is left out (§14); "
                                  "`Cache-Control: private, max-age=300`: a price, a new style "
                                  "or a flag's change shows within five minutes", StyleList)})
@revalidated(cache_control=STYLES_CACHE_CONTROL)
def styles() -> Response:
    offered = library.styles(user_id=current_principal().user_id)
    return jsonify({"data": [style_json(style) for style in offered]})


def _accepted(job: Job) -> tuple[Response, int, dict[str, str]]:
    location = url_for("status.poll", generation_id=job.id)
    return jsonify(headshot_json(job, get_signer())), 202, {"Location": location}


@headshots.post("/generate")
@documented(
    operation_id="generateHeadshot", summary="Charge for a headshot and queue it", tag="headshots",
    body=GenerateRequest, idempotency_key=True, rate_limited=True,
    responses={202: Reply("queued; Location points at its status", Headshot,
                          headers=("Location",))},
    errors={402: "insufficient_credits",
            403: "feature_disabled: the style is off for the caller (§14); nothing was charged",
            404: "not_found: the headshot an earlier request with this Idempotency-Key created "
                 "has been deleted since",
            409: "idempotency_key_reused: the key was used with a different request"},
)
@write_budget
def generate() -> tuple[Response, int, dict[str, str]]:
    body = json_body(GenerateRequest)
    principal = current_principal()
    job = submit_job(
        user_id=principal.user_id, email=principal.email, image_url=body.imageUrl,
        style_id=body.style, aspect_ratio=body.aspectRatio,
        idempotency=idempotency("generate", body.model_dump()),
    )
    return _accepted(job)


@headshots.post("/<id:generation_id>/retry")
@documented(
    operation_id="retryHeadshot", summary="Queue a failed headshot again, charged again",
    tag="headshots", idempotency_key=True, rate_limited=True,
    responses={202: Reply("back in the queue, retryCount + 1; Location points at its status",
                          Headshot, headers=("Location",))},
    errors={402: "insufficient_credits",
            409: "not_failed (only a failed headshot can be retried), original_expired, or "
                 "idempotency_key_reused"},
)
@write_budget
def retry(generation_id: int) -> tuple[Response, int, dict[str, str]]:
    principal = current_principal()
    job = resubmit_job(
        user_id=principal.user_id, email=principal.email, job_id=generation_id,
        idempotency=idempotency("retry", {"id": generation_id}),
    )
    return _accepted(job)


@headshots.get("/history")
@documented(operation_id="listHeadshots", summary="The caller's headshots, newest first",
            tag="headshots", query=HistoryQuery, revalidated=True,
            responses={200: Reply("one page", HeadshotPage)})
@revalidated
def history() -> Response:
    query = query_args(HistoryQuery)
    page = library.history(
        user_id=current_principal().user_id, limit=query.limit, before_id=query.before_id,
        status=query.status, style=query.style, favorite=query.favorite,
    )
    signer = get_signer()
    return jsonify(page_json(page, lambda job: headshot_json(job, signer)))


@headshots.get("/history/<id:generation_id>")
@documented(operation_id="getHeadshot", summary="One headshot", tag="headshots",
            revalidated=True, responses={200: Reply("the headshot", Headshot)})
@revalidated
def history_item(generation_id: int) -> Response:
    job = library.job(user_id=current_principal().user_id, job_id=generation_id)
    return jsonify(headshot_json(job, get_signer()))


@headshots.delete("/history/<id:generation_id>")
@documented(operation_id="deleteHeadshot", summary="Delete a headshot and its images",
            tag="headshots", rate_limited=True,
            responses={204: Reply("deleted (a running one cancelled and refunded first), its "
                                  "share link revoked; later reads are 404")})
@write_budget
def delete(generation_id: int) -> tuple[str, int]:
    library.delete(user_id=current_principal().user_id, job_id=generation_id)
    return "", 204


@headshots.get("/favorites")
@documented(operation_id="listFavorites", summary="The caller's favorite headshots, newest first",
            tag="headshots", query=FavoritesQuery, revalidated=True,
            responses={200: Reply("one page", HeadshotPage)})
@revalidated
def favorites() -> Response:
    query = query_args(FavoritesQuery)
    page = library.history(user_id=current_principal().user_id, limit=query.limit,
                           before_id=query.before_id, status=query.status, style=query.style,
                           favorite=True)
    signer = get_signer()
    return jsonify(page_json(page, lambda job: headshot_json(job, signer)))


@headshots.post("/<id:generation_id>/favorite")
@documented(operation_id="addFavorite", summary="Mark a headshot as a favorite (idempotent)",
            tag="headshots", rate_limited=True, responses={200: Reply("the headshot", Headshot)})
@write_budget
def add_favorite(generation_id: int) -> Response:
    return _favorite(generation_id, True)


@headshots.delete("/<id:generation_id>/favorite")
@documented(operation_id="removeFavorite", summary="Unmark a favorite (idempotent)",
            tag="headshots", rate_limited=True, responses={200: Reply("the headshot", Headshot)})
@write_budget
def remove_favorite(generation_id: int) -> Response:
    return _favorite(generation_id, False)


def _favorite(generation_id: int, favorite: bool) -> Response:
    job = library.set_favorite(user_id=current_principal().user_id,
                                      job_id=generation_id, favorite=favorite)
    return jsonify(headshot_json(job, get_signer()))


@headshots.post("/<id:generation_id>/cancel")
@documented(operation_id="cancelHeadshot", summary="Cancel a queued or processing headshot",
            tag="headshots", rate_limited=True,
            responses={200: Reply("failed with error code `cancelled`, refunded", Headshot)},
            errors={409: "already_finished: it has completed or failed"})
@write_budget
def cancel(generation_id: int) -> Response:
    job = library.cancel(user_id=current_principal().user_id, job_id=generation_id)
    return jsonify(headshot_json(job, get_signer()))
