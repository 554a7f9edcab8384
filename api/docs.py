"""The API's own documentation (API guide §10): `GET /openapi.json`, the OpenAPI document, and
`GET /docs`, the same document browsable with Swagger UI. Both public.

Swagger UI is vendored under `api/static/swagger-ui/` (`scripts/vendor-swagger-ui.sh`) and served
by Flask's static route with `api/static/docs-init.js`, which starts it: the page loads nothing
from any other origin, and its Content-Security-Policy says so.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, url_for
from markupsafe import escape

from api.documented import HTML_PAGE, JSON, Reply, documented
from api.openapi import document_json

docs = Blueprint("docs", __name__)

# Same origin only, no inline script. Inline styles stay allowed: Swagger UI (React) sets some.
DOCS_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'")
DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Headshots API</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{stylesheet}">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{document}"></div>
<script src="{swagger_ui}"></script>
<script src="{init}"></script>
</body>
</html>
"""


@docs.get("/openapi.json")
@documented(operation_id="openapi", summary="This document", tag="operations", auth="public",
            responses={200: Reply("the OpenAPI 3.1 document", content={JSON: {"type": "object"}})})
def openapi() -> Response:
    return Response(document_json(current_app), mimetype="application/json")


@docs.get("/docs")
@documented(operation_id="docs", summary="This document, browsable (Swagger UI)",
            tag="operations", auth="public",
            responses={200: Reply("an HTML page that shows /openapi.json with Swagger UI",
                                  content=HTML_PAGE)})
def page() -> Response:
    urls = {
        "stylesheet": url_for("static", filename="swagger-ui/swagger-ui.css"),
        "document": url_for("docs.openapi"),
        "swagger_ui": url_for("static", filename="swagger-ui/swagger-ui-bundle.js"),
        "init": url_for("static", filename="docs-init.js"),
    }
    html = DOCS_PAGE.format(**{name: escape(url) for name, url in urls.items()})
    return Response(html, mimetype="text/html", headers={
        "Content-Security-Policy": DOCS_CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    })
