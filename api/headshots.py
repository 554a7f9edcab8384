"""Headshot routes (contract §6): styles, generate, retry, history."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, url_for

from api.auth import authenticate, current_principal
from api.limits import limiter, write_limit
from api.parsing import idempotency, json_body, query_args
from api.schemas import GenerateRequest, HistoryQuery
from media import get_signer
from models.generations import HeadshotGeneration
from services import headshots as library
from services.representations import headshot_json, page_json, style_json
from services.submissions import resubmit_generation, submit_generation

headshots = Blueprint("headshots", __name__, url_prefix="/api/headshots")
headshots.before_request(authenticate)


@headshots.get("/styles")
def styles() -> Response:
    return jsonify({"data": [style_json(style) for style in library.styles()]})


def _accepted(generation: HeadshotGeneration) -> tuple[Response, int, dict[str, str]]:
    location = url_for("status.poll", generation_id=generation.id)
    return jsonify(headshot_json(generation, get_signer())), 202, {"Location": location}


@headshots.post("/generate")
@limiter.limit(write_limit)
def generate() -> tuple[Response, int, dict[str, str]]:
    body = json_body(GenerateRequest)
    principal = current_principal()
    generation = submit_generation(
        user_id=principal.user_id, email=principal.email, image_url=body.imageUrl,
        style_id=body.style, aspect_ratio=body.aspectRatio,
        idempotency=idempotency("generate", body.model_dump()),
    )
    return _accepted(generation)


@headshots.post("/<id:generation_id>/retry")
@limiter.limit(write_limit)
def retry(generation_id: int) -> tuple[Response, int, dict[str, str]]:
    principal = current_principal()
    generation = resubmit_generation(
        user_id=principal.user_id, email=principal.email, generation_id=generation_id,
        idempotency=idempotency("retry", {"id": generation_id}),
    )
    return _accepted(generation)


@headshots.get("/history")
def history() -> Response:
    query = query_args(HistoryQuery)
    page = library.history(
        user_id=current_principal().user_id, limit=query.limit, before_id=query.before_id,
        status=query.status, style=query.style, favorite=query.favorite,
    )
    signer = get_signer()
    return jsonify(page_json(page, lambda generation: headshot_json(generation, signer)))


@headshots.get("/history/<id:generation_id>")
def history_item(generation_id: int) -> Response:
    generation = library.headshot(user_id=current_principal().user_id,
                                  generation_id=generation_id)
    return jsonify(headshot_json(generation, get_signer()))


@headshots.delete("/history/<id:generation_id>")
def delete(generation_id: int) -> tuple[str, int]:
    library.delete_headshot(user_id=current_principal().user_id, generation_id=generation_id)
    return "", 204
