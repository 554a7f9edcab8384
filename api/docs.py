"""`GET /openapi.json` (contract §10): the OpenAPI document, public, built once per process."""

from __future__ import annotations

from flask import Blueprint, Response

from api.openapi import document_json

docs = Blueprint("docs", __name__)


@docs.get("/openapi.json")
def openapi() -> Response:
    return Response(document_json(), mimetype="application/json")
