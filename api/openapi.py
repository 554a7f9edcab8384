"""The OpenAPI 3.1 document of the whole API (API guide §10), built from the app itself.

Each route says what its code cannot (a summary, which statuses it answers, who may call it,
its request and response models) with `@documented` beside it (`api/documented.py`). This module
walks `app.url_map`, reads the `Operation` attached to each endpoint's view function and builds
the document: request bodies and query strings from the pydantic models that validate them
(`api/schemas.py`), response bodies from the models that describe the serializers' output
(`api/responses.py`), path parameters from the Flask rules and their converters. A route without
`@documented` is an error here (`UndocumentedRoutes`), so `tests/test_openapi.py` fails.

Error responses are derived where they follow from the operation (a token -> 401 and 503, an
admin route -> 403, a path parameter -> 404, a body -> 400, rate limited -> 429 with
`Retry-After`, byte ranges -> 206 and 416), plus the route's own (`errors`: 402, 409, 415 ...).
Every operation also lists the refusals any request can get before a route sees it: 400 (not
valid HTTP), 405 (another method, with `Allow`), 408 (a body that did not arrive in time) and
413 (a body longer than the operation's `x-max-body-bytes`): `api/request_arrival.py`; 414,
417 and 431 (gunicorn's, in the same error shape: `config/gunicorn.py`).

For generated clients (§12) the document also carries: `servers` (PUBLIC_BASE_URL), the
completion webhooks' payloads under `webhooks` (`api/webhook_payloads.py`), each enum's member
names (`x-enum-varnames`, `NamedEnums`), the `code`s of each shared error answer, and no
component that nothing refers to (query models become parameters).
`tests/integration/test_openapi_rules.py` holds the whole document to these rules.
"""

from __future__ import annotations

import copy
import json
import re
from importlib import metadata
from typing import Any

from flask import Flask
from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, models_json_schema
from pydantic_core import core_schema

from api import responses as r
from api.body_limits import max_body_bytes
from api.documented import JSON, REF, Operation, Reply, operation_of
from api.parsing import IDEMPOTENCY_KEY_PATTERN, body_required
from api.webhook_payloads import WEBHOOKS
from config import get_settings
from models.idempotency import MAX_KEY_LENGTH

OPENAPI_VERSION = "3.1.0"
UNDOCUMENTED_METHODS = frozenset({"HEAD", "OPTIONS"})  # Flask answers these for every route
# Flask's own file route: it serves the assets of the `/docs` page, it is not part of the API.
FILE_ENDPOINTS = frozenset({"static"})
DOCUMENT_EXTENSION = "headshots.openapi_document"  # the serialized document, in `app.extensions`


class UndocumentedRoutes(LookupError):
    """Routes of the app whose view function has no `@documented`."""


# ---- shared pieces --------------------------------------------------------------------------

HEADERS: dict[str, dict[str, Any]] = {
    "Allow": {"description": "the methods the path answers", "required": True,
              "schema": {"type": "string"}},
    "Content-Disposition": {
        "description": "`attachment` (or `inline` for a share link's image) with the file's "
                       "`filename`",
        "required": True,
        "schema": {"type": "string", "pattern": "^(?:attachment|inline); filename="},
    },
    "Content-Range": {"description": "the bytes sent (206), or `bytes */<length>` (416)",
                      "required": True, "schema": {"type": "string"}},
    "Location": {"description": "where what was queued can be read: a headshot's status, a "
                                "batch", "required": True,
                 "schema": {"type": "string"}},
    "X-Image-Width": {"description": "the exported image's width in pixels (a `size` above "
                                     "the headshot's own long side gives its own size)",
                      "required": True, "schema": {"type": "integer", "minimum": 1}},
    "X-Image-Height": {"description": "the exported image's height in pixels",
                       "required": True, "schema": {"type": "integer", "minimum": 1}},
    "Retry-After": {"description": "seconds to wait before trying again", "required": True,
                    "schema": {"type": "integer", "minimum": 0}},
    "ETag": {"description": "a hash of the body: send it back as `If-None-Match` for a 304 "
                            "while the resource is unchanged", "required": True,
             "schema": {"type": "string"}},
    "Cache-Control": {"description": "`private, no-cache` (keep it, but revalidate), or a "
                                     "`max-age` where the answer may be reused unasked",
                      "required": True, "schema": {"type": "string"}},
    "RateLimit-Limit": {"description": "the requests the caller's budget allows per window "
                                       "(a minute)", "schema": {"type": "integer", "minimum": 0}},
    "RateLimit-Remaining": {"description": "the requests left in the current window",
                            "schema": {"type": "integer", "minimum": 0}},
    "RateLimit-Reset": {"description": "seconds until the current window ends and the budget "
                                       "is whole again",
                        "schema": {"type": "integer", "minimum": 0}},
    "WWW-Authenticate": {"description": "the bearer challenge",
                         "schema": {"type": "string"}},
}

ERRORS: dict[int, tuple[str, str]] = {  # status -> (component name, description)
    400: ("BadRequest", "invalid input (the message names the offending field), or a request "
                        "that is not valid HTTP (a broken request line, header or chunked body)"),
    401: ("Unauthorized", "missing, malformed, badly signed or expired bearer token"),
    402: ("PaymentRequired", "insufficient_credits: nothing was charged"),
    403: ("Forbidden", "forbidden: this route is for operators (role admin)"),
    404: ("NotFound", "no such resource, or not the caller's"),
    405: ("MethodNotAllowed", "method_not_allowed: the path does not answer this method; "
                              "`Allow` lists those it does"),
    408: ("RequestTimeout", "request_timeout: the request's body did not arrive within "
                            "REQUEST_ARRIVAL_SECONDS (plus time for its length); the "
                            "connection is closed"),
    409: ("Conflict", "the resource is not in a state that allows this"),
    412: ("PreconditionFailed", "precondition_failed: a conditional header does not hold"),
    413: ("PayloadTooLarge", "body_too_large: the body is longer than the operation's "
                             "`x-max-body-bytes`; refused before it is read, the connection "
                             "is closed (or image_too_large: an upload past the image limits)"),
    414: ("UriTooLong", "uri_too_long: the request line is longer than the server reads"),
    415: ("UnsupportedMediaType", "not an image type the service accepts"),
    416: ("RangeNotSatisfiable", "range_not_satisfiable: the `Range` is malformed, asks for "
                                 "several ranges, or starts past the end"),
    417: ("ExpectationFailed", "expectation_failed: an `Expect` other than 100-continue"),
    429: ("TooManyRequests", "rate_limited: the caller's budget is used up"),
    431: ("HeadersTooLarge", "headers_too_large: a header, or all of them, larger than the "
                             "server reads"),
    503: ("ServiceUnavailable",
          "database or job queue unavailable: nothing was charged, try again; or "
          "identity_provider_unavailable: the token names a signing key the service does not "
          "hold and cannot look up now (`Retry-After` says when to try again)"),
}
# status -> the `code`s its shared answer may carry (docs/api.md §3), named in its description
ERROR_CODES: dict[int, tuple[str, ...]] = {
    400: ("invalid_request", "invalid_image_url", "invalid_style", "bad_request"),
    401: ("unauthorized",),
    402: ("insufficient_credits",),
    403: ("forbidden", "feature_disabled"),
    404: ("not_found",),
    405: ("method_not_allowed",),
    408: ("request_timeout",),
    409: ("conflict",),
    412: ("precondition_failed",),
    413: ("payload_too_large", "body_too_large", "image_too_large"),
    414: ("uri_too_long",),
    415: ("unsupported_media_type",),
    416: ("range_not_satisfiable",),
    417: ("expectation_failed",),
    429: ("rate_limited", "too_many_streams"),
    431: ("headers_too_large",),
    503: ("service_unavailable", "storage_unavailable", "identity_provider_unavailable"),
}
RATE_LIMIT_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")
ERROR_HEADERS = {401: ("WWW-Authenticate",), 405: ("Allow",), 416: ("Content-Range",),
                 429: ("Retry-After", *RATE_LIMIT_HEADERS)}
REVALIDATION_HEADERS = ("ETag", "Cache-Control")
# What any request may get before a route sees it, whatever the operation.
REFUSED_BEFORE_ROUTING = (400, 405, 408, 413, 414, 417, 431)

ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": 999_999_999_999_999_999}
CONVERTERS: dict[str, dict[str, Any]] = {  # Flask converter -> schema of its value
    "id": ID_SCHEMA,
    "uuid": {"type": "string", "format": "uuid"},
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
IF_NONE_MATCH_PARAMETER = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "The `ETag` of an earlier answer: while the resource is unchanged the "
                   "answer is a 304 without a body.",
    "schema": {"type": "string"},
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


def _reply(reply: Reply, *, limited: bool = False) -> dict[str, Any]:
    """A success response; on a rate-limited route it carries the budget's RateLimit-*."""
    answer: dict[str, Any] = {"description": reply.description}
    if reply.model is not None:
        answer["content"] = {JSON: {"schema": _ref(reply.model)}}
    elif reply.content is not None:
        answer["content"] = {media: {"schema": dict(schema)}
                             for media, schema in reply.content.items()}
    headers = (*reply.headers, *(RATE_LIMIT_HEADERS if limited else ()))
    if headers:
        answer["headers"] = _headers(headers)
    return answer


def _revalidated(replies: dict[int, Reply]) -> dict[int, Reply]:
    """A `@revalidated` route's 200 with its ETag and Cache-Control, and its 304."""
    whole = replies[200]
    return {200: Reply(whole.description, whole.model, whole.content,
                       headers=(*whole.headers, *REVALIDATION_HEADERS)),
            304: Reply("not modified: the `If-None-Match` sent names the current `ETag`; "
                       "no body", headers=REVALIDATION_HEADERS)}


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
    # Every /api/admin route spends the operator's budget (the blueprint carries it).
    if op.rate_limited or rule.startswith("/api/admin/"):
        statuses[429] = None
    if op.byte_ranges:
        statuses[416] = None
    if op.auth != "public":
        statuses[503] = None
    for status in REFUSED_BEFORE_ROUTING:
        statuses.setdefault(status, None)
    statuses.update(op.errors)
    return dict(sorted(statuses.items()))


def _ranged(op: Operation) -> dict[int, Reply]:
    """A route that answers `Range` requests: its 206 is part of its 200's body."""
    whole = op.responses[200]
    return {206: Reply("one byte range of the body (a `Range` request)", whole.model,
                       whole.content, headers=(*whole.headers, "Content-Range"))}


def _operation(rule: str, op: Operation, components: dict[str, Any]) -> dict[str, Any]:
    parameters = path_parameters(rule)
    if op.query is not None:
        parameters += query_parameters(op.query, components)
    if op.idempotency_key:
        parameters.append(copy.deepcopy(IDEMPOTENCY_KEY_PARAMETER))
    if op.revalidated:
        parameters.append(copy.deepcopy(IF_NONE_MATCH_PARAMETER))
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
    # The longest body the route reads; a longer one is a 413, unread (api/body_limits.py).
    limit = max_body_bytes(op)
    document["x-max-body-bytes"] = limit
    if op.body is not None:
        document["requestBody"] = {"required": body_required(op.body),
                                   "description": _at_most(limit),
                                   "content": {JSON: {"schema": _ref(op.body)}}}
    if op.upload:
        document["requestBody"] = {
            "required": True, "description": _at_most(limit),
            "content": {"multipart/form-data": {
                "schema": {"type": "object", "required": ["image"],
                           "properties": {"image": {"type": "string", "format": "binary",
                                                    "description": "JPEG, PNG or WebP"}}},
            }},
        }
    replies = {**(_ranged(op) if op.byte_ranges else {}), **op.responses}
    if op.revalidated:
        replies = {**replies, **_revalidated(replies)}
    limited = op.rate_limited or rule.startswith("/api/admin/")
    answers: dict[str, Any] = {str(status): _reply(reply, limited=limited) for status, reply in
                               sorted(replies.items())}
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


def _at_most(limit: int) -> str:
    return f"at most {limit} bytes; a longer body is refused (413 body_too_large) unread"


def app_operations(app: Flask) -> dict[tuple[str, str], Operation]:
    """Every (method, Flask rule) of `app.url_map` with the `Operation` of its view function, in
    the order the rules were added; raises `UndocumentedRoutes` naming any route without one."""
    operations: dict[tuple[str, str], Operation] = {}
    missing = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in FILE_ENDPOINTS:
            continue
        operation = operation_of(app.view_functions[rule.endpoint])
        for method in sorted((rule.methods or set()) - UNDOCUMENTED_METHODS):
            if operation is None:
                missing.append(f"{method} {rule.rule} ({rule.endpoint})")
            else:
                operations[(method, rule.rule)] = operation
    if missing:
        raise UndocumentedRoutes("routes without @documented (api/documented.py): "
                                 + ", ".join(missing))
    ids = [op.operation_id for op in operations.values()]
    if len(set(ids)) != len(ids):  # e.g. one view function answering two methods
        raise ValueError(f"an operationId is used twice: {sorted(ids)}")
    return operations


class NamedEnums(GenerateJsonSchema):
    """pydantic's JSON Schema, each enum carrying its members' Python names as
    `x-enum-varnames`: client generators (openapi-python-client among them) name their
    constants by it, so `AspectRatio.RATIO_4_5`, not `VALUE_1`."""

    def enum_schema(self, schema: core_schema.EnumSchema) -> JsonSchemaValue:
        json_schema = super().enum_schema(schema)
        json_schema["x-enum-varnames"] = [member.name for member in schema["members"]]
        return json_schema


def _schemas(operations: list[Operation]) -> dict[str, Any]:
    """Every model the operations and the webhooks name, in one `components/schemas`
    (pydantic's `$defs`, hoisted). The query models are there too, for `query_parameters` to
    read; `build_document` drops them once their fields are parameters."""
    inputs: set[type[BaseModel]] = set()
    outputs: set[type[BaseModel]] = {r.ErrorBody, *(model for _, model in WEBHOOKS.values())}
    for op in operations:
        inputs.update(model for model in (op.query, op.body) if model is not None)
        outputs.update(reply.model for reply in op.responses.values() if reply.model)
    entries = [(model, "validation") for model in sorted(inputs, key=lambda m: m.__name__)]
    entries += [(model, "serialization") for model in sorted(outputs, key=lambda m: m.__name__)]
    refs, top = models_json_schema(entries, ref_template=REF,  # type: ignore[arg-type]
                                   schema_generator=NamedEnums)
    for (model, _), ref in refs.items():  # `_ref` names a model by its class name
        if ref != {"$ref": REF.format(model=model.__name__)}:
            raise ValueError(f"two models named {model.__name__}: rename one")
    schemas: dict[str, Any] = top.get("$defs", {})
    return dict(sorted(schemas.items()))


WEBHOOK_HEADERS = (
    ("webhook-id", "the event's id, the same at every attempt: drop duplicates by it"),
    ("webhook-timestamp", "unix seconds of this attempt"),
    ("webhook-signature", "`v1,<base64 HMAC-SHA256>` over `id.timestamp.body` (Standard "
                          "Webhooks), keyed by the secret shared with the receiver"),
)


def _webhooks() -> dict[str, Any]:
    """The completion webhooks (API guide §11): what the service POSTs to NOTIFY_WEBHOOK_URL."""
    parameters = [{"name": name, "in": "header", "required": True, "description": description,
                   "schema": {"type": "string", "minLength": 1}}
                  for name, description in WEBHOOK_HEADERS]
    return {
        event_type: {"post": {
            "operationId": "on" + "".join(part.title() for part in event_type.split(".")),
            "summary": summary,
            "tags": ["webhooks"],
            "parameters": copy.deepcopy(parameters),
            "requestBody": {"required": True, "content": {JSON: {"schema": _ref(model)}}},
            "responses": {"2XX": {"description": "delivered; anything else, or no answer, "
                                                 "is tried again with backoff for a day"}},
        }}
        for event_type, (summary, model) in WEBHOOKS.items()
    }


def _response_refs(paths: dict[str, Any]) -> set[str]:
    """The shared error answers the operations refer to: only those are components."""
    return {answer["$ref"] for item in paths.values() for operation in item.values()
            for answer in operation["responses"].values() if "$ref" in answer}


def build_document(app: Flask) -> dict[str, Any]:
    operations = app_operations(app)
    schemas = _schemas(list(operations.values()))
    paths: dict[str, dict[str, Any]] = {}
    for (method, rule), op in operations.items():
        paths.setdefault(openapi_path(rule), {})[method.lower()] = \
            _operation(rule, op, schemas)
    for op in operations.values():  # its fields are the operation's parameters now
        if op.query is not None:
            schemas.pop(op.query.__name__, None)
    referred = _response_refs(paths)
    responses = {
        name: {
            "description": f"{description}. Codes: "
                           + ", ".join(f"`{code}`" for code in ERROR_CODES[status]),
            "content": {JSON: {"schema": _ref(r.ErrorBody)}},
            **({"headers": _headers(ERROR_HEADERS[status])} if status in ERROR_HEADERS else {}),
        }
        for status, (name, description) in ERRORS.items()
        if f"#/components/responses/{name}" in referred
    }
    tags = dict.fromkeys(op.tag for op in operations.values())  # in the order of the routes
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Headshots API",
            "version": _version(),
            "description": "The backend of the AI professional-headshot feature. Every error is "
                           '`{"error": {"code", "message"}}`; times are ISO 8601 in UTC.',
        },
        "servers": [{"url": get_settings().public_base_url,
                     "description": "this deployment (PUBLIC_BASE_URL)"}],
        "security": [{"bearerAuth": []}],
        "tags": [{"name": name} for name in [*tags, "webhooks"]],
        "paths": dict(sorted(paths.items())),
        "webhooks": _webhooks(),
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                               "description": "From the identity provider: RS256 or ES256, "
                                              "signed by a key of its JWKS (`kid`), with its "
                                              "`iss` and this API's `aud`; in development "
                                              "HS256. `sub` = user id, `exp` required; "
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


def document_json(app: Flask) -> bytes:
    """The document of `app`, serialized once per app (two threads racing to build it first
    build the same bytes, so no lock)."""
    serialized: bytes | None = app.extensions.get(DOCUMENT_EXTENSION)
    if serialized is None:
        serialized = json.dumps(build_document(app), separators=(",", ":")).encode()
        app.extensions[DOCUMENT_EXTENSION] = serialized
    return serialized
