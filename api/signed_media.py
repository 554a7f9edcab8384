"""`GET /media/<key>`: serves stored images to whoever holds an unexpired signed URL.

The signature is the authorization (image tags cannot send a bearer token); anything else,
including a key that does not exist, is the same 404 so nothing about other files leaks.
"""

from __future__ import annotations

import time

from flask import Blueprint, Response, request, send_file

from api.documented import IMAGE_BYTES, MediaQuery, Reply, documented
from api.errors import ApiError
from media import get_signer, get_storage
from media.storage import InvalidKey, StorageNotFound, content_type_for_key, is_valid_key

media = Blueprint("media", __name__)


@media.get("/media/<path:storage_key>")
@documented(
    operation_id="getMedia", summary="A stored image, for whoever holds its unexpired signed URL",
    tag="media", auth="public", query=MediaQuery, bad_input_status=404, byte_ranges=True,
    responses={200: Reply("the image", content=IMAGE_BYTES),
               304: Reply("not modified: the `If-None-Match` or `If-Modified-Since` the "
                          "client sent still holds")},
    errors={412: "precondition_failed: `If-Match` or `If-Unmodified-Since` does not hold"},
    description="Any wrong, missing or expired signature, or a key that does not exist, "
                "is the same 404.",
)
def serve(storage_key: str) -> Response:
    exp, sig = request.args.get("exp", ""), request.args.get("sig", "")
    if not is_valid_key(storage_key) or not get_signer().verify(storage_key, exp, sig):
        raise ApiError(404, "not_found", "no such image, or its link has expired")
    try:
        path = get_storage().local_path(storage_key)
        if path is None:  # an object store would redirect here instead
            raise StorageNotFound(storage_key)
        response = send_file(path, mimetype=content_type_for_key(storage_key), conditional=True)
    except (StorageNotFound, FileNotFoundError, InvalidKey):  # InvalidKey: a symlinked folder
        raise ApiError(404, "not_found", "no such image, or its link has expired") from None
    if response.status_code == 412:  # werkzeug's 412 would still carry the image as its body
        response.close()
        raise ApiError(412, "precondition_failed",
                       "the image does not meet the request's If-Match or If-Unmodified-Since")
    remaining = max(0, int(exp) - int(time.time()))
    response.headers["Cache-Control"] = f"private, max-age={remaining}"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
