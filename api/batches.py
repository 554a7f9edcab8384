"""Batch routes (API guide §6, roadmap 4.1): several styles of one selfie, side by side."""

from __future__ import annotations

import uuid

from flask import Blueprint, Response, jsonify, stream_with_context, url_for

from api.auth import authenticate, current_principal
from api.documented import ZIP_ARCHIVE, Reply, documented
from api.limits import write_budget
from api.parsing import idempotency, json_body
from api.responses import Batch, BatchAccepted
from api.revalidation import revalidated
from api.schemas import BatchRequest
from media import get_signer
from services import batches as batch_service
from services.representations import batch_json, headshot_json
from services.submissions import submit_batch

batches = Blueprint("batches", __name__, url_prefix="/api/headshots/batch")
batches.before_request(authenticate)


@batches.post("")
@documented(
    operation_id="createBatch", summary="Charge for several styles of one selfie and queue them",
    tag="headshots", body=BatchRequest, idempotency_key=True, rate_limited=True,
    responses={202: Reply("all queued, every one carrying the batchId; Location points at the "
                          "batch", BatchAccepted, headers=("Location",))},
    errors={402: "insufficient_credits: nothing was charged, nothing created",
            403: "feature_disabled: batches, or one of the styles, are off for the caller "
                 "(§14); nothing was charged",
            404: "not_found: the batch an earlier request with this Idempotency-Key created "
                 "has been deleted since",
            409: "original_expired, or idempotency_key_reused"},
)
@write_budget
def create() -> tuple[Response, int, dict[str, str]]:
    body = json_body(BatchRequest)
    principal = current_principal()
    accepted = submit_batch(
        user_id=principal.user_id, email=principal.email, image_url=body.imageUrl,
        style_ids=list(body.styles), aspect_ratio=body.aspectRatio,
        idempotency=idempotency("batch", body.model_dump()),
    )
    signer = get_signer()
    return jsonify({
        "batchId": str(accepted.batch_id),
        "generations": [headshot_json(job, signer) for job in accepted.jobs],
    }), 202, {"Location": url_for("batches.read", batch_id=accepted.batch_id)}


@batches.get("/<uuid:batch_id>")
@documented(operation_id="getBatch", summary="A batch: its status, progress and headshots",
            tag="headshots", revalidated=True, responses={200: Reply("the batch", Batch)})
@revalidated
def read(batch_id: uuid.UUID) -> Response:
    view = batch_service.batch(user_id=current_principal().user_id, batch_id=batch_id)
    return jsonify(batch_json(view, get_signer()))


@batches.get("/<uuid:batch_id>/download")
@documented(operation_id="downloadBatch", summary="A ZIP of the batch's completed headshots",
            tag="headshots",
            responses={200: Reply("streamed; one file per result, named by its style; "
                                  "Content-Disposition names the archive",
                                  content=ZIP_ARCHIVE, headers=("Content-Disposition",))},
            errors={409: "nothing_completed: no headshot of the batch has completed yet"})
def download(batch_id: uuid.UUID) -> Response:
    view = batch_service.batch(user_id=current_principal().user_id, batch_id=batch_id)
    entries = batch_service.archive_entries(  # a 409 before any byte is sent
        view, user_id=current_principal().user_id)
    return Response(
        stream_with_context(batch_service.stream_archive(entries)), mimetype="application/zip",
        headers={"Content-Disposition": f'attachment; filename="headshots-{batch_id}.zip"',
                 "Cache-Control": "private, no-store"},
    )
