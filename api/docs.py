"""`GET /openapi.json` (contract §10): the OpenAPI document, public, built once per app."""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from api.documented import JSON, Reply, documented
from api.openapi import document_json

docs = Blueprint("docs", __name__)


@docs.get("/openapi.json")
@documented(operation_id="openapi", summary="This document", tag="operations", auth="public",
            responses={200: Reply("the OpenAPI 3.1 document", content={JSON: {"type": "object"}})})
def openapi() -> Response:
    return Response(document_json(current_app), mimetype="application/json")
