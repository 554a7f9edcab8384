"""Turning a Flask request into a validated request model (400 with the field named)."""

from __future__ import annotations

import re
from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel

from api.errors import ApiError
from models.idempotency import MAX_KEY_LENGTH, IdempotentRequest

IDEMPOTENCY_KEY_PATTERN = re.compile(rf"[\x21-\x7e]{{1,{MAX_KEY_LENGTH}}}")

Model = TypeVar("Model", bound=BaseModel)


def json_body(model: type[Model]) -> Model:
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        raise ApiError(400, "invalid_request", "body: expected a JSON object")
    return model.model_validate(payload)


def query_args(model: type[Model]) -> Model:
    return model.model_validate(request.args.to_dict())


def idempotency(operation: str, body: Any) -> IdempotentRequest | None:
    """The request's `Idempotency-Key`, bound to what it asks for, if it sent one."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not IDEMPOTENCY_KEY_PATTERN.fullmatch(key):
        raise ApiError(400, "invalid_request",
                       f"Idempotency-Key: 1 to {MAX_KEY_LENGTH} printable ASCII characters")
    return IdempotentRequest.of(key, operation=operation, body=body)
