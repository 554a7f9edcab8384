"""`GET /media/<key>`: serves stored images to whoever holds an unexpired signed URL.

The signature is the authorization (image tags cannot send a bearer token); anything else,
including a key that does not exist, is the same 404 so nothing about other files leaks.
With local storage the web process sends the file; with an object store (STORAGE_BACKEND=s3)
it answers a redirect to the store's own presigned URL, which lives a few minutes, so image
bytes never pass through the web process.
"""

from __future__ import annotations

import time

from flask import Blueprint, Response, request, send_file

from api.documented import IMAGE_BYTES, MediaQuery, Reply, documented
from api.errors import NOT_FOUND_MESSAGE, ApiError
from config import get_settings
from media import get_signer, get_storage
from media.storage import InvalidKey, StorageNotFound, content_type_for_key, is_valid_key
from services.events import record_result_download

media = Blueprint("media", __name__)


@media.get("/media/<path:storage_key>")
@documented(
    operation_id="getMedia", summary="A stored image, for whoever holds its unexpired signed URL",
    tag="media", auth="public", query=MediaQuery, bad_input_status=404, byte_ranges=True,
    responses={200: Reply("the image", content=IMAGE_BYTES),
               302: Reply("with an object store (`STORAGE_BACKEND=s3`): the image is at "
                          "`Location`, the store's presigned URL, which lives a few minutes"),
               304: Reply("not modified: the `If-None-Match` or `If-Modified-Since` the "
                          "client sent still holds")},
    errors={412: "precondition_failed: `If-Match` or `If-Unmodified-Since` does not hold"},
    description="Any wrong, missing or expired signature, or a key that does not exist, "
                "is the same 404.",
)
def serve(storage_key: str) -> Response:
    exp, sig = request.args.get("exp", ""), request.args.get("sig", "")
    if not is_valid_key(storage_key) or not get_signer().verify(storage_key, exp, sig):
        raise ApiError(404, "not_found", NOT_FOUND_MESSAGE)
    storage = get_storage()
    remaining = max(0, int(exp) - int(time.time()))
    try:
        presign_ttl = get_settings().s3_presign_ttl_seconds
        presigned = storage.presigned_url(storage_key, ttl_seconds=presign_ttl)
        if presigned is not None:
            # A HEAD first: a deleted image is our 404, not the store's XML error.
            if not storage.exists(storage_key):
                raise StorageNotFound(storage_key)
            return _noted(storage_key, _redirect_to_store(
                presigned, cache_seconds=min(remaining, presign_ttl // 2)))
        path = storage.local_path(storage_key)
        if path is None:
            raise StorageNotFound(storage_key)
        response = send_file(path, mimetype=content_type_for_key(storage_key), conditional=True)
    except (StorageNotFound, FileNotFoundError, InvalidKey):  # InvalidKey: a symlinked folder
        raise ApiError(404, "not_found", NOT_FOUND_MESSAGE) from None
    if response.status_code == 412:  # werkzeug's 412 would still carry the image as its body
        response.close()
        raise ApiError(412, "precondition_failed",
                       "the image does not meet the request's If-Match or If-Unmodified-Since")
    # A stored image never changes under its key (a new image gets a new key), so a cache may
    # keep it, unasked, for as long as the URL lives.
    response.headers["Cache-Control"] = f"private, max-age={remaining}, immutable"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return _noted(storage_key, response)


def _noted(storage_key: str, response: Response) -> Response:
    """A result image served is its owner's download (§7): noted once a headshot and day. A
    HEAD fetches no image."""
    if request.method == "GET":
        record_result_download(storage_key, status=response.status_code,
                               range_header=request.headers.get("Range"))
    return response


def _redirect_to_store(presigned: str, *, cache_seconds: int) -> Response:
    response = Response(status=302, headers={"Location": presigned})
    # A browser may reuse the redirect while the URL it points at still has time to run.
    response.headers["Cache-Control"] = f"private, max-age={cache_seconds}"
    # The presigned URL is a bearer credential: never leak it onward as a Referer.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
