"""Turning a Flask request into a validated request model (400 with the field named)."""

from __future__ import annotations

from typing import TypeVar

from flask import request
from pydantic import BaseModel

from api.errors import ApiError

Model = TypeVar("Model", bound=BaseModel)


def json_body(model: type[Model]) -> Model:
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        raise ApiError(400, "invalid_request", "body: expected a JSON object")
    return model.model_validate(payload)


def query_args(model: type[Model]) -> Model:
    return model.model_validate(request.args.to_dict())
