"""The OpenAPI 3.1 document of the whole API (contract §10), built from the code itself.

Request bodies and query strings come from the pydantic models that validate them
(`api/schemas.py`), response bodies from the models that describe the serializers' output
(`api/responses.py`), path parameters from the Flask rules and their converters. What the code
cannot say (a summary, which statuses a route answers, who may call it) is in ONE table,
`OPERATIONS`, keyed by (method, Flask rule) exactly as `app.url_map` has them;
`tests/test_openapi.py` fails when a route is missing from it or it names one that does not
exist.

Error responses are derived where they follow from the table entry (a token → 401 and 503, an
admin route → 403, a path parameter → 404, a body → 400 and 413, rate limited → 429 with
`Retry-After`), plus the route's own (`errors`: 402, 409, 415 …).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata
from typing import Any, Literal

from pydantic import BaseModel, Field
from pydantic.json_schema import models_json_schema

from api import responses as r
from api.parsing import IDEMPOTENCY_KEY_PATTERN
from api.schemas import CreditHistoryQuery, GenerateRequest, GrantCreditsRequest, HistoryQuery
from models.idempotency import MAX_KEY_LENGTH

OPENAPI_VERSION = "3.1.0"
REF = "#/components/schemas/{model}"
JSON = "application/json"
IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")

Auth = Literal["public", "user", "admin"]


class MediaQuery(BaseModel):
    """What `api/media.py` reads from a signed media URL (it checks them by hand: any wrong,
    missing or expired value is the same 404)."""

    exp: str = Field(description="expiry, unix seconds")
    sig: str = Field(description="signature over the key and the expiry")


@dataclass(frozen=True)
class Reply:
    """A success response: a JSON body (`model`), other content, or none."""

    description: str
    model: type[BaseModel] | None = None
    content: Mapping[str, Any] | None = None  # media type -> schema, for non-JSON bodies
    headers: tuple[str, ...] = ()  # names in HEADERS, all sent on this response


@dataclass(frozen=True)
class Operation:
    operation_id: str
    summary: str
    tag: str
    responses: Mapping[int, Reply]
    auth: Auth = "user"
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    upload: bool = False  # multipart/form-data with one file field, `image`
    idempotency_key: bool = False  # accepts an `Idempotency-Key` header
    rate_limited: bool = False  # 429 with Retry-After past the caller's limit
    errors: Mapping[int, str] = field(default_factory=dict)  # the route's own error statuses
    bad_input_status: int = 400  # what invalid parameters or bodies get
    description: str | None = None


IMAGE_BYTES = {media_type: {"type": "string", "format": "binary"} for media_type in IMAGE_TYPES}
EVENT_STREAM = "text/event-stream"
STATUS_EVENT = {  # one event of the stream (OpenAPI 3.1: the `schema` of a stream is per event)
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"const": "status"},
        "data": {"type": "string", "contentMediaType": JSON,
                 "contentSchema": {"$ref": REF.format(model="HeadshotStatus")}},
    },
}

# ---- THE table: every route of `app.url_map` (but `static`), by method and Flask rule ---------

OPERATIONS: dict[tuple[str, str], Operation] = {
    # operations (contract §10)
    ("GET", "/healthz"): Operation(
        "healthz", "Liveness: 200 while the process lives", "operations", auth="public",
        responses={200: Reply("alive", r.Health)},
    ),
    ("GET", "/readyz"): Operation(
        "readyz", "Readiness: 200 only when PostgreSQL and Redis answer", "operations",
        auth="public",
        responses={200: Reply("ready", r.Ready), 503: Reply("a dependency is down", r.NotReady)},
    ),
    ("GET", "/openapi.json"): Operation(
        "openapi", "This document", "operations", auth="public",
        responses={200: Reply("the OpenAPI 3.1 document",
                              content={JSON: {"type": "object"}})},
    ),
    # media: the signature is the authorization (image tags cannot send a token)
    ("GET", "/media/<path:storage_key>"): Operation(
        "getMedia", "A stored image, for whoever holds its unexpired signed URL", "media",
        auth="public", query=MediaQuery, bad_input_status=404,
        responses={200: Reply("the image", content=IMAGE_BYTES)},
        description="Any wrong, missing or expired signature, or a key that does not exist, "
                    "is the same 404.",
    ),
    # uploads (contract §5)
    ("POST", "/api/uploads"): Operation(
        "createUpload", "Upload a selfie (JPEG, PNG or WebP, at most 10 MiB)", "uploads",
        upload=True, rate_limited=True,
        responses={201: Reply("stored without metadata; a signed URL of the clean copy",
                              r.UploadCreated)},
        errors={415: "not a JPEG, PNG or WebP image"},
    ),
    # headshots (contract §6)
    ("GET", "/api/headshots/styles"): Operation(
        "listStyles", "The styles on offer and what each costs", "headshots",
        responses={200: Reply("active styles", r.StyleList)},
    ),
    ("POST", "/api/headshots/generate"): Operation(
        "generateHeadshot", "Charge for a headshot and queue it", "headshots",
        body=GenerateRequest, idempotency_key=True, rate_limited=True,
        responses={202: Reply("queued; Location points at its status", r.Headshot,
                              headers=("Location",))},
        errors={402: "insufficient_credits",
                404: "the headshot an earlier request with this Idempotency-Key created has "
                     "been deleted since",
                409: "idempotency_key_reused: the key was used with a different request"},
    ),
    ("POST", "/api/headshots/<id:generation_id>/retry"): Operation(
        "retryHeadshot", "Queue a failed headshot again, charged again", "headshots",
        idempotency_key=True, rate_limited=True,
        responses={202: Reply("back in the queue, retryCount + 1; Location points at its "
                              "status", r.Headshot, headers=("Location",))},
        errors={402: "insufficient_credits",
                409: "not_failed (only a failed headshot can be retried), original_expired, "
                     "or idempotency_key_reused"},
    ),
    ("GET", "/api/headshots/status/<id:generation_id>"): Operation(
        "getHeadshotStatus", "The status the app polls", "headshots", rate_limited=True,
        responses={200: Reply("current status", r.HeadshotStatus)},
    ),
    ("GET", "/api/headshots/status/<id:generation_id>/stream"): Operation(
        "streamHeadshotStatus", "Server-Sent Events: the status object at each change",
        "headshots", rate_limited=True,
        responses={200: Reply("one `status` event per change, its data the status object; "
                              "closed when the job ends", content={EVENT_STREAM: STATUS_EVENT})},
    ),
    ("GET", "/api/headshots/history"): Operation(
        "listHeadshots", "The caller's headshots, newest first", "headshots",
        query=HistoryQuery,
        responses={200: Reply("one page", r.HeadshotPage)},
    ),
    ("GET", "/api/headshots/history/<id:generation_id>"): Operation(
        "getHeadshot", "One headshot", "headshots",
        responses={200: Reply("the headshot", r.Headshot)},
    ),
    ("DELETE", "/api/headshots/history/<id:generation_id>"): Operation(
        "deleteHeadshot", "Delete a finished headshot and its images", "headshots",
        responses={204: Reply("deleted; later reads are 404")},
        errors={409: "generation_in_progress: still queued or processing"},
    ),
    # credits (contract §4)
    ("GET", "/api/me"): Operation(
        "getMe", "The caller's account and balance", "credits",
        responses={200: Reply("the account", r.Me)},
    ),
    ("GET", "/api/credits/history"): Operation(
        "listCreditHistory", "The caller's credit ledger, newest first", "credits",
        query=CreditHistoryQuery,
        responses={200: Reply("one page", r.CreditHistoryPage)},
    ),
    # admin (contract §4, §8)
    ("POST", "/api/admin/users/<id:user_id>/credits"): Operation(
        "grantCredits", "Grant credits to a user (created if new)", "admin", auth="admin",
        body=GrantCreditsRequest,
        responses={201: Reply("granted", r.CreditsGranted)},
        errors={409: "balance_limit_exceeded: the balance would pass 2147483647 credits"},
    ),
}

# ---- shared pieces --------------------------------------------------------------------------

HEADERS: dict[str, dict[str, Any]] = {
    "Location": {"description": "where the new job's status is", "required": True,
                 "schema": {"type": "string"}},
    "Retry-After": {"description": "seconds to wait before trying again", "required": True,
                    "schema": {"type": "integer", "minimum": 0}},
    "WWW-Authenticate": {"description": "the bearer challenge",
                         "schema": {"type": "string"}},
}

ERRORS: dict[int, tuple[str, str]] = {  # status -> (component name, description)
    400: ("BadRequest", "invalid input; the message names the offending field"),
    401: ("Unauthorized", "missing, malformed, badly signed or expired bearer token"),
    402: ("PaymentRequired", "insufficient_credits: nothing was charged"),
    403: ("Forbidden", "forbidden: this route is for operators (role admin)"),
    404: ("NotFound", "no such resource, or not the caller's"),
    409: ("Conflict", "the resource is not in a state that allows this"),
    413: ("PayloadTooLarge", "the body is larger than the service accepts"),
    415: ("UnsupportedMediaType", "not an image type the service accepts"),
    429: ("TooManyRequests", "rate_limited: the caller's limit for this route is used up"),
    503: ("ServiceUnavailable",
          "database or job queue unavailable: nothing was charged, try again"),
}
ERROR_HEADERS = {401: ("WWW-Authenticate",), 429: ("Retry-After",)}

ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": 999_999_999_999_999_999}
CONVERTERS: dict[str, dict[str, Any]] = {  # Flask converter -> schema of its value
    "id": ID_SCHEMA,
    "path": {"type": "string", "minLength": 1},
    "default": {"type": "string", "minLength": 1},
    "string": {"type": "string", "minLength": 1},
}
RULE_ARGUMENT = re.compile(r"<(?:(?P<converter>\w+)(?:\([^)]*\))?:)?(?P<name>\w+)>")

IDEMPOTENCY_KEY_PARAMETER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "A repeated request with the same key and body returns the first response "
                   "instead of charging again; the same key with another body is a 409.",
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH,
               "pattern": f"^(?:{IDEMPOTENCY_KEY_PATTERN.pattern})$"},
}


def openapi_path(rule: str) -> str:
    """`/api/headshots/status/<id:generation_id>` -> `/api/headshots/status/{generation_id}`."""
    return RULE_ARGUMENT.sub(lambda match: "{" + match["name"] + "}", rule)


def path_parameters(rule: str) -> list[dict[str, Any]]:
    parameters = []
    for match in RULE_ARGUMENT.finditer(rule):
        converter = match["converter"] or "default"
        if converter not in CONVERTERS:
            raise ValueError(f"{rule}: no schema for the converter {converter!r}")
        parameters.append({"name": match["name"], "in": "path", "required": True,
                           "schema": dict(CONVERTERS[converter])})
    return parameters


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query value is a string or absent, never null: drop the `null` branch of `X | None`."""
    schema = {key: value for key, value in schema.items() if key not in ("title", "default")
              or (key == "default" and value is not None)}
    branches = schema.get("anyOf")
    if branches:
        kept = [branch for branch in branches if branch != {"type": "null"}]
        if len(kept) == 1:
            del schema["anyOf"]
            schema = {**kept[0], **schema}
        else:
            schema["anyOf"] = kept
    return schema


def query_parameters(model: type[BaseModel], components: dict[str, Any]) -> list[dict[str, Any]]:
    model_schema = components[model.__name__]
    required = set(model_schema.get("required", ()))
    parameters = []
    for name, schema in model_schema["properties"].items():
        parameter: dict[str, Any] = {"name": name, "in": "query", "required": name in required,
                                     "schema": _without_null(schema)}
        if "description" in schema:
            parameter["description"] = schema["description"]
        parameters.append(parameter)
    return parameters


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _headers(names: tuple[str, ...]) -> dict[str, Any]:
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


def _reply(reply: Reply) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": reply.description}
    if reply.model is not None:
        answer["content"] = {JSON: {"schema": _ref(reply.model)}}
    elif reply.content is not None:
        answer["content"] = {media: {"schema": dict(schema)}
                             for media, schema in reply.content.items()}
    if reply.headers:
        answer["headers"] = _headers(reply.headers)
    return answer


def error_statuses(rule: str, op: Operation) -> dict[int, str | None]:
    """Every error status the route can answer: status -> its own description, or None for the
    shared one."""
    statuses: dict[int, str | None] = {}
    takes_input = bool(op.query or op.body or op.upload or op.idempotency_key)
    if takes_input:
        statuses[op.bad_input_status] = None
    if op.auth != "public":
        statuses[401] = None
    if op.auth == "admin":
        statuses[403] = None
    if RULE_ARGUMENT.search(rule):
        statuses[404] = None
    if op.body or op.upload:
        statuses[413] = None
    if op.rate_limited:
        statuses[429] = None
    if op.auth != "public":
        statuses[503] = None
    statuses.update(op.errors)
    return dict(sorted(statuses.items()))


def _operation(rule: str, op: Operation, components: dict[str, Any]) -> dict[str, Any]:
    parameters = path_parameters(rule)
    if op.query is not None:
        parameters += query_parameters(op.query, components)
    if op.idempotency_key:
        parameters.append(copy.deepcopy(IDEMPOTENCY_KEY_PARAMETER))
    document: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
    }
    description = [op.description] if op.description else []
    if op.auth == "public":
        document["security"] = []
    if op.auth == "admin":
        document["x-required-role"] = "admin"
        description.append("Operators only: a token with `role: admin`.")
    if description:
        document["description"] = " ".join(description)
    if parameters:
        document["parameters"] = parameters
    if op.body is not None:
        document["requestBody"] = {"required": True,
                                   "content": {JSON: {"schema": _ref(op.body)}}}
    if op.upload:
        document["requestBody"] = {
            "required": True,
            "content": {"multipart/form-data": {
                "schema": {"type": "object", "required": ["image"],
                           "properties": {"image": {"type": "string", "format": "binary",
                                                    "description": "JPEG, PNG or WebP"}}},
            }},
        }
    answers: dict[str, Any] = {str(status): _reply(reply) for status, reply in
                               sorted(op.responses.items())}
    for status, own in error_statuses(rule, op).items():
        if str(status) in answers:
            continue
        name, _ = ERRORS[status]
        if own is None:
            answers[str(status)] = {"$ref": f"#/components/responses/{name}"}
        else:
            answer: dict[str, Any] = {"description": own,
                                      "content": {JSON: {"schema": _ref(r.ErrorBody)}}}
            if status in ERROR_HEADERS:
                answer["headers"] = _headers(ERROR_HEADERS[status])
            answers[str(status)] = answer
    document["responses"] = answers
    return document


def _schemas() -> dict[str, Any]:
    """Every model the table names, in one `components/schemas` (pydantic's `$defs`, hoisted)."""
    inputs: set[type[BaseModel]] = set()
    outputs: set[type[BaseModel]] = {r.ErrorBody}
    for op in OPERATIONS.values():
        inputs.update(model for model in (op.query, op.body) if model is not None)
        outputs.update(reply.model for reply in op.responses.values() if reply.model)
    entries = [(model, "validation") for model in sorted(inputs, key=lambda m: m.__name__)]
    entries += [(model, "serialization") for model in sorted(outputs, key=lambda m: m.__name__)]
    refs, top = models_json_schema(entries, ref_template=REF)  # type: ignore[arg-type]
    for (model, _), ref in refs.items():  # `_ref` names a model by its class name
        if ref != {"$ref": REF.format(model=model.__name__)}:
            raise ValueError(f"two models named {model.__name__}: rename one")
    schemas: dict[str, Any] = top.get("$defs", {})
    return dict(sorted(schemas.items()))


def build_document() -> dict[str, Any]:
    schemas = _schemas()
    paths: dict[str, dict[str, Any]] = {}
    for (method, rule), op in OPERATIONS.items():
        paths.setdefault(openapi_path(rule), {})[method.lower()] = \
            _operation(rule, op, schemas)
    responses = {
        name: {
            "description": description,
            "content": {JSON: {"schema": _ref(r.ErrorBody)}},
            **({"headers": _headers(ERROR_HEADERS[status])} if status in ERROR_HEADERS else {}),
        }
        for status, (name, description) in ERRORS.items()
    }
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Headshots API",
            "version": _version(),
            "description": "The backend of the AI professional-headshot feature. Every error is "
                           '`{"error": {"code", "message"}}`; times are ISO 8601 in UTC.',
        },
        "security": [{"bearerAuth": []}],
        "tags": [{"name": name} for name in dict.fromkeys(op.tag for op in OPERATIONS.values())],
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                               "description": "HS256, `sub` = user id, `exp` required; "
                                              "`role: admin` for operators"},
            },
            "schemas": schemas,
            "responses": responses,
            "headers": HEADERS,
        },
    }


def _version() -> str:
    try:
        return metadata.version("headshots")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0.0.0"


@cache
def document_json() -> bytes:
    """The document, serialized once per process."""
    return json.dumps(build_document(), separators=(",", ":")).encode()
