"""`POST /api/uploads` (API guide §5): a selfie in, a signed URL of its clean copy out."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from api.auth import authenticate, current_principal
from api.documented import Reply, documented
from api.errors import ApiError
from api.limits import write_budget
from api.responses import UploadCreated
from config import get_settings
from media import get_signer
from services.representations import upload_json
from services.uploads import accept_upload

uploads = Blueprint("uploads", __name__, url_prefix="/api/uploads")
uploads.before_request(authenticate)


@uploads.post("")
@documented(
    operation_id="createUpload",
    summary="Upload a selfie (JPEG, PNG, WebP, HEIC or AVIF, at most 10 MiB)",
    tag="uploads", upload=True, rate_limited=True,
    responses={201: Reply("stored without metadata; a signed URL of the clean copy",
                          UploadCreated)},
    errors={415: "unsupported_media_type: not a JPEG, PNG, WebP, HEIC or AVIF image"},
)
@write_budget
def create() -> tuple[Response, int]:
    file = request.files.get("image")
    if file is None:
        raise ApiError(400, "invalid_request", "image: a multipart file field named 'image' "
                       "is required")
    if len(request.files.getlist("image")) > 1:  # never guess which one was meant
        raise ApiError(400, "invalid_request", "image: send exactly one file")
    limit = get_settings().upload_max_bytes
    raw = file.stream.read(limit + 1)  # one byte over is enough to know it is too large
    principal = current_principal()
    upload = accept_upload(user_id=principal.user_id, email=principal.email, raw=raw)
    return jsonify(upload_json(upload, get_signer())), 201
