"""`GET /app`: the reference web client, the app's screens over the public API (§13).

Like `/admin`, the page is a shell with no data in it, so it is public: its scripts
(`api/static/app/`, ES modules, no build step) ask for the user's token, keep it in
sessionStorage (never in a URL) and call `/api/...` with `Authorization: Bearer`, exactly as the
mobile app does. Same origin, so no CORS. Nothing is loaded from another origin and no inline
script runs; the Content-Security-Policy says so.

The service worker (push notifications) must be served from under `/app` for its scope to
cover the page, so it has a route of its own; the other files are the app's ordinary static
files.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from flask import Blueprint, Response, render_template

from api.documented import HTML_PAGE, Reply, documented
from media import get_storage
from media.storage import new_key

web_client = Blueprint("web_client", __name__)

SERVICE_WORKER = Path(__file__).parent / "static" / "app" / "sw.js"
JAVASCRIPT = {"application/javascript": {"type": "string"}}
# img-src blob: shows the chosen selfie before it is uploaded; media-src none is needed. The
# image store's origin is added when `/media` redirects there (STORAGE_BACKEND=s3).
CLIENT_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; "
              "img-src 'self' data: blob:{store}; connect-src 'self'; "
              "worker-src 'self'; manifest-src 'self'; base-uri 'none'; "
              "form-action 'none'; frame-ancestors 'none'")
PAGE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _image_store_origin() -> str:
    """` https://store:port` when signed image URLs redirect to an object store, else ''.
    Signing a URL is local: no request is made, and the key need not exist."""
    url = get_storage().presigned_url(new_key("thumbnails", 0, "jpg"), ttl_seconds=60)
    if url is None:
        return ""
    parts = urlsplit(url)
    return f" {parts.scheme}://{parts.netloc}"


@web_client.get("/app")
@documented(operation_id="webClient", summary="The reference web client (the app's screens)",
            tag="clients", auth="public",
            responses={200: Reply("an HTML page with no data in it; its scripts sign in with "
                                  "the user's token and call the public API", content=HTML_PAGE)})
def page() -> Response:
    policy = CLIENT_CSP.format(store=_image_store_origin())
    return Response(render_template("app.html"), mimetype="text/html",
                    headers={"Content-Security-Policy": policy, **PAGE_HEADERS})


@web_client.get("/app/")
@documented(operation_id="webClientSlash", summary="The web client, asked for with a final slash",
            tag="clients", auth="public",
            responses={308: Reply("to `/app`; the browser keeps the `#/...` screen, which push "
                                  "notifications' `url` (`/app/#/headshots/{id}`, §13) names")})
def page_with_slash() -> Response:
    return Response(status=308, headers={"Location": "/app"})


@web_client.get("/app/sw.js")
@documented(operation_id="webClientServiceWorker", summary="The web client's service worker",
            tag="clients", auth="public",
            responses={200: Reply("the script that shows push notifications", content=JAVASCRIPT)})
def service_worker() -> Response:
    # Scope "/app" (the page itself, not only what lies under "/app/") is wider than the
    # script's folder, so the browser needs this header's permission.
    return Response(SERVICE_WORKER.read_bytes(), mimetype="application/javascript", headers={
        "Service-Worker-Allowed": "/app",
        "Content-Security-Policy": "default-src 'none'; connect-src 'self'",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-cache",
    })
