"""Share and export (API guide §6, roadmap 4.3): the owner's routes, and the public link.

The public page and its image need no token: the unguessable token in the path is the
authorization, and it names no user or headshot. A link that expired or was revoked is a 410,
one never issued a 404, both as a plain page (it is opened in a browser, not by the app).
"""

from __future__ import annotations

from io import BytesIO

from flask import Blueprint, Response, jsonify, render_template, send_file

from api.auth import authenticate, current_principal
from api.documented import HTML_PAGE, IMAGE_BYTES, Reply, documented
from api.limits import export_limit, limiter, write_budget
from api.parsing import json_body, query_args
from api.responses import ShareCreated
from api.schemas import ExportQuery, ShareRequest
from media.formats import BY_CONTENT_TYPE
from media.storage import content_type_for_key
from models.shares import LinkState
from services import library, sharing
from services.representations import iso

sharing_routes = Blueprint("sharing", __name__, url_prefix="/api/headshots")
sharing_routes.before_request(authenticate)
public_links = Blueprint("public_links", __name__, url_prefix=sharing.SHARE_PATH.rstrip("/"))

PAGE_SECURITY = {
    # Nothing runs, nothing leaves: the page shows one image of its own origin.
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; "
                               "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private, max-age=60",
}
UNAVAILABLE_PAGES = {
    404: Reply("never issued: a plain page", content=HTML_PAGE),
    410: Reply("expired or revoked: a plain page", content=HTML_PAGE),
}


@sharing_routes.post("/<id:generation_id>/share")
@documented(operation_id="shareHeadshot", summary="A public link to a completed headshot",
            tag="headshots", body=ShareRequest, rate_limited=True,
            responses={201: Reply("a new link; any earlier one of this headshot is revoked",
                                  ShareCreated)},
            errors={403: "feature_disabled: sharing is off for the caller (§14)",
                    409: "not_completed: only a completed headshot can be shared"})
@write_budget
def share(generation_id: int) -> tuple[Response, int]:
    body = json_body(ShareRequest)
    link = sharing.share(user_id=current_principal().user_id, job_id=generation_id,
                         lifetime_hours=body.expiresInHours)
    return jsonify({"shareUrl": link.url, "expiresAt": iso(link.expires_at)}), 201


@sharing_routes.delete("/<id:generation_id>/share")
@documented(operation_id="unshareHeadshot", summary="Revoke the headshot's public link",
            tag="headshots", rate_limited=True,
            responses={204: Reply("revoked (or there was none); the link answers 410")})
@write_budget
def unshare(generation_id: int) -> tuple[str, int]:
    sharing.unshare(user_id=current_principal().user_id, job_id=generation_id)
    return "", 204


@sharing_routes.get("/<id:generation_id>/export")
@documented(operation_id="exportHeadshot", summary="The headshot as PNG, JPEG or WebP",
            tag="headshots", query=ExportQuery, rate_limited=True, byte_ranges=True,
            responses={200: Reply("the image, without metadata; Content-Disposition names it "
                                  "and X-Image-Width/X-Image-Height give its size (never "
                                  "upscaled: `size` is capped at the headshot's own)",
                                  content=IMAGE_BYTES,
                                  headers=("Content-Disposition", "X-Image-Width",
                                           "X-Image-Height"))},
            errors={403: "feature_disabled: exports are off for the caller (§14)",
                    409: "not_completed: only a completed headshot can be exported"})
@limiter.limit(export_limit)
def export(generation_id: int) -> Response:
    query = query_args(ExportQuery)
    exported = library.export(
        user_id=current_principal().user_id, job_id=generation_id,
        fmt=BY_CONTENT_TYPE[f"image/{query.format}"], long_side=query.size,
        watermark=query.watermark,
    )
    filename = f"headshot-{generation_id}-{exported.width}x{exported.height}." \
               f"{exported.format.extension}"
    response = send_file(BytesIO(exported.data), mimetype=exported.format.content_type,
                         as_attachment=True, download_name=filename)
    response.headers["Cache-Control"] = "private, no-store"
    # The size asked is a maximum: a client asking 4096 of a 1024 px headshot learns what came.
    response.headers["X-Image-Width"] = str(exported.width)
    response.headers["X-Image-Height"] = str(exported.height)
    return response


@public_links.get("/<token>")
@documented(operation_id="openSharedHeadshot", summary="The public page of a share link",
            tag="sharing", auth="public", bad_input_status=404,
            responses={200: Reply("an HTML page with Open Graph and Twitter card tags",
                                  content=HTML_PAGE), **UNAVAILABLE_PAGES})
def page(token: str) -> tuple[str, int, dict[str, str]]:
    link = sharing.open_link(token)
    if link.state is not LinkState.LIVE:
        return _unavailable(link.state)
    url = sharing.share_url(token)
    html = render_template(
        "share.html", title=f"My {link.style} headshot",
        description="A professional headshot, made with AI.", page_url=url,
        image_url=f"{url}/image", image_type=content_type_for_key(link.image_key),
    )
    store = sharing.image_store_origin(link)
    if store is None:
        return html, 200, PAGE_SECURITY
    # The image redirects to the object store: the page may show images from there too.
    policy = PAGE_SECURITY["Content-Security-Policy"].replace(
        "img-src 'self'", f"img-src 'self' {store}")
    return html, 200, {**PAGE_SECURITY, "Content-Security-Policy": policy}


@public_links.get("/<token>/image")
@documented(operation_id="getSharedImage", summary="The image of a share link",
            tag="sharing", auth="public", bad_input_status=404, byte_ranges=True,
            responses={200: Reply("the headshot; Content-Disposition names it",
                                  content=IMAGE_BYTES, headers=("Content-Disposition",)),
                       302: Reply("with an object store (`STORAGE_BACKEND=s3`): the headshot is "
                                  "at `Location`, the store's presigned URL, which lives a few "
                                  "minutes"),
                       **UNAVAILABLE_PAGES})
def image(token: str) -> Response | tuple[str, int, dict[str, str]]:
    link = sharing.open_link(token)
    found = sharing.shared_image_file(link) if link.state is LinkState.LIVE else None
    if found is None:
        return _unavailable(link.state if link.state is not LinkState.LIVE else LinkState.GONE)
    if found.store_url is not None:  # an object store: it serves the bytes, for a few minutes
        response = Response(status=302, headers={**PAGE_SECURITY, "Location": found.store_url,
                                                 "Cache-Control": "no-store"})
    else:
        assert found.data is not None
        # `inline` (a browser shows it); saved, it is named after its style, not `image`.
        extension = BY_CONTENT_TYPE[found.content_type].extension
        response = send_file(BytesIO(found.data), mimetype=found.content_type,
                             download_name=f"headshot-{link.style}.{extension}")
        response.headers.update(PAGE_SECURITY)
    return response


def _unavailable(state: LinkState) -> tuple[str, int, dict[str, str]]:
    if state is LinkState.GONE:
        heading, message, status = ("This link has expired",
                                    "Its owner revoked it, or its time ran out.", 410)
    else:
        heading, message, status = "Nothing here", "No headshot is shared at this address.", 404
    html = render_template("share_unavailable.html", heading=heading, message=message)
    return html, status, {**PAGE_SECURITY, "Cache-Control": "no-store"}
