"""`GET /openapi.json` (API guide §10): a valid OpenAPI 3.1 document of every route, built from
the `@documented` beside each route and the request models, with response schemas that the
serializers' real output satisfies."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from jsonschema import Draft202012Validator, FormatChecker
from openapi_spec_validator import validate

from api.documented import Operation, Reply, documented
from api.openapi import (
    ID_SCHEMA,
    REF,
    NamedEnums,
    UndocumentedRoutes,
    app_operations,
    build_document,
    document_json,
    openapi_path,
)
from tests.support.api_calls import generate, upload, uploaded_url
from tests.support.users import ADMIN, auth, new_user_id

pytestmark = pytest.mark.usefixtures("stack")

UNDOCUMENTED_METHODS = {"HEAD", "OPTIONS"}  # Flask answers these for every GET route itself
# Flask's own file route (the assets of `/docs`): the one endpoint left out of the document.
NOT_IN_THE_DOCUMENT = {"static"}


@pytest.fixture(scope="module")
def document(app: Any) -> dict[str, Any]:
    return build_document(app)


@pytest.fixture(scope="module")
def operations(app: Any) -> dict[tuple[str, str], Operation]:
    return app_operations(app)


def schema_validator(document: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """A validator for `schema`, whose `#/components/...` references resolve in `document`."""
    return Draft202012Validator({**schema, "components": document["components"]},
                                format_checker=FormatChecker())


def response_schema(document: dict[str, Any], method: str, rule: str, status: int
                    ) -> dict[str, Any]:
    responses = document["paths"][openapi_path(rule)][method.lower()]["responses"]
    assert str(status) in responses, f"{method} {rule} does not document a {status}"
    answer = responses[str(status)]
    if "$ref" in answer:
        answer = document["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
    schema: dict[str, Any] = answer["content"]["application/json"]["schema"]
    return schema


def assert_conforms(document: dict[str, Any], method: str, rule: str, response: Any) -> None:
    assert response.mimetype == "application/json", response.mimetype
    schema = response_schema(document, method, rule, response.status_code)
    errors = sorted(schema_validator(document, schema).iter_errors(response.get_json()),
                    key=lambda error: list(error.path))
    assert not errors, (f"{method} {rule} -> {response.status_code}: "
                        + "; ".join(f"{list(e.path)}: {e.message}" for e in errors))


# ---- the document itself -------------------------------------------------------------------


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    validate(document)  # raises with the offending part if it is not


def test_it_is_served_without_a_token_and_built_once(app: Any, client: Any,
                                                     document: dict[str, Any]) -> None:
    first = client.get("/openapi.json")
    assert first.status_code == 200
    assert first.mimetype == "application/json"
    assert first.get_json() == json.loads(json.dumps(document))
    assert client.get("/openapi.json").get_data() == first.get_data()
    assert document_json(app) is document_json(app)  # serialized once, kept on the app


def _routes(app: Any) -> set[tuple[str, str]]:
    return {
        (method, rule.rule)
        for rule in app.url_map.iter_rules() if rule.endpoint not in NOT_IN_THE_DOCUMENT
        for method in rule.methods - UNDOCUMENTED_METHODS
    }


def test_every_route_is_documented_and_only_routes_are(
    app: Any, operations: dict[tuple[str, str], Operation], document: dict[str, Any]
) -> None:
    routes = _routes(app)
    missing = sorted(routes - operations.keys())
    unknown = sorted(operations.keys() - routes)
    assert not missing, f"routes without @documented: {missing}"
    assert not unknown, f"operations of routes that app.url_map does not have: {unknown}"
    in_document = {(method.upper(), path) for path, item in document["paths"].items()
                   for method in item}
    assert in_document == {(method, openapi_path(rule)) for method, rule in routes}


def _app_with_one_route(*, documented_as: dict[str, Any] | None) -> Flask:
    app = Flask(__name__)

    def ping() -> str:
        return "pong"

    view = ping if documented_as is None else documented(**documented_as)(ping)
    app.add_url_rule("/ping", view_func=view)
    return app


def test_a_route_without_documentation_fails_the_build() -> None:
    undocumented = _app_with_one_route(documented_as=None)
    with pytest.raises(UndocumentedRoutes, match=r"GET /ping \(ping\)"):
        build_document(undocumented)
    with pytest.raises(UndocumentedRoutes):
        document_json(undocumented)

    ping = _app_with_one_route(documented_as={
        "operation_id": "ping", "summary": "s", "tag": "t", "auth": "public",
        "responses": {200: Reply("pong")}})
    assert list(build_document(ping)["paths"]) == ["/ping"]


def test_every_route_is_in_the_document_with_its_path_parameters(
    app: Any, document: dict[str, Any]
) -> None:
    for rule in app.url_map.iter_rules():
        if rule.endpoint in NOT_IN_THE_DOCUMENT:
            continue
        path = openapi_path(rule.rule)
        assert path in document["paths"], rule.rule
        for method in rule.methods - UNDOCUMENTED_METHODS:
            operation = document["paths"][path].get(method.lower())
            assert operation is not None, f"{method} {rule.rule}"
            in_path = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "path"}
            assert set(in_path) == set(rule.arguments), f"{method} {rule.rule}"
            for name, parameter in in_path.items():
                assert parameter["required"] is True
                if type(rule._converters[name]).__name__ == "IdConverter":
                    assert parameter["schema"] == ID_SCHEMA


def test_every_operation_lists_its_errors_with_the_error_body(
    operations: dict[tuple[str, str], Operation], document: dict[str, Any]
) -> None:
    ids = set()
    for (method, rule), op in operations.items():
        operation = document["paths"][openapi_path(rule)][method.lower()]
        ids.add(operation["operationId"])
        statuses = set(operation["responses"])
        if op.auth != "public":
            assert {"401", "503"} <= statuses, f"{method} {rule}"
            assert "security" not in operation  # the document-wide bearer scheme applies
        else:
            assert operation["security"] == []
        if op.auth == "admin":
            assert "403" in statuses
        if op.body is not None or op.query is not None:
            assert str(op.bad_input_status) in statuses
        if method in ("POST", "DELETE") and rule.startswith("/api/") and op.rate_limited:
            answer = operation["responses"]["429"]
            assert answer["$ref"].endswith("/TooManyRequests")
        for status in statuses:
            if rule.startswith("/s/"):  # a share link is opened in a browser: plain pages
                answer = operation["responses"][status]
                if int(status) >= 400 and "$ref" not in answer:  # $ref: refused before the page
                    assert "text/html" in answer["content"], rule
                continue
            if int(status) >= 400 and not (rule == "/readyz" and status == "503"):
                schema = response_schema(document, method, rule, int(status))
                assert schema == {"$ref": REF.format(model="ErrorBody")}, f"{method} {rule}"
    assert len(ids) == len(operations)
    too_many = document["components"]["responses"]["TooManyRequests"]
    assert too_many["headers"]["Retry-After"]["$ref"] == "#/components/headers/Retry-After"


def test_idempotency_key_header_on_generate_and_retry(document: dict[str, Any]) -> None:
    for path in ("/api/headshots/generate", "/api/headshots/{generation_id}/retry"):
        headers = [p for p in document["paths"][path]["post"]["parameters"]
                   if p["in"] == "header"]
        assert [(h["name"], h["required"], h["schema"]["type"], h["schema"]["maxLength"])
                for h in headers] == [("Idempotency-Key", False, "string", 255)]


def test_uploads_are_multipart_with_a_binary_image(document: dict[str, Any]) -> None:
    body = document["paths"]["/api/uploads"]["post"]["requestBody"]["content"]
    assert body["multipart/form-data"]["schema"]["properties"]["image"] == {
        "type": "string", "format": "binary", "description": "JPEG, PNG or WebP"}


def test_the_status_streams_are_text_and_the_signed_one_needs_no_token(
        document: dict[str, Any]) -> None:
    """A generated client must not read the stream as one JSON object (from_dict on the event
    text): the stream is a string, its events described in words."""
    bearer = document["paths"]["/api/headshots/status/{generation_id}/stream"]["get"]
    signed = document["paths"]["/api/headshots/status/{generation_id}/signed-stream"]["get"]
    for operation in (bearer, signed):
        schema = operation["responses"]["200"]["content"]["text/event-stream"]["schema"]
        assert schema["type"] == "string" and "properties" not in schema
        assert "`id:" in schema["description"] and "`retry:" in schema["description"]
        assert "content" not in operation["responses"]["204"]
        assert "Last-Event-ID" in operation["description"]
    assert "security" not in bearer and signed["security"] == []
    assert {(p["name"], p["in"], p["required"]) for p in signed["parameters"]} == {
        ("generation_id", "path", True), ("user", "query", True), ("exp", "query", True),
        ("sig", "query", True)}
    assert "401" not in signed["responses"]
    for model in ("Headshot", "HeadshotStatus"):
        assert "statusStreamUrl" in document["components"]["schemas"][model]["required"]


# ---- request models: the document says what the models accept ----------------------------

URL = "https://x/media/originals/1/" + "a" * 32 + ".jpg?exp=1&sig=" + "A" * 43  # well shaped

VALID: dict[str, list[dict[str, Any]]] = {
    "DeviceRequest": [
        {"platform": "ios", "token": "ab" * 32},
        {"platform": "android", "token": "f" * 20 + ":APA91b" + "x" * 140},
        {"platform": "web", "subscription": {
            "endpoint": "https://fcm.googleapis.com/fcm/send/abc",
            "keys": {"p256dh": "BA" + "A" * 85, "auth": "A" * 22}}},
    ],
    "GenerateRequest": [
        {"imageUrl": URL, "style": "corporate"},
        {"imageUrl": URL, "style": "model", "aspectRatio": "9:16", "extra": "ignored"},
    ],
    "GrantCreditsRequest": [{"amount": 1, "reason": "r"}, {"amount": 1_000_000, "reason": "x"}],
    "HistoryQuery": [{}, {"limit": 100, "status": "failed", "style": "corporate",
                          "favorite": True, "cursor": "aWQ6MTA"}],
    "CreditHistoryQuery": [{}, {"limit": 1, "type": "refund"}],
    "FavoritesQuery": [{}, {"limit": 5, "cursor": "aWQ6MTA", "status": "completed"}],
    "PageQuery": [{}, {"limit": 5, "cursor": "aWQ6MTA"}],
    "FailuresQuery": [{}, {"limit": 100}, {"from": "2026-01-01", "to": "2026-01-02T10:00:00Z",
                                           "code": "getimg_timeout", "style": "corporate",
                                           "userId": 7}],
    "UserEmailQuery": [{"email": "Someone@Example.com"}],
    "AnalyticsQuery": [{"from": "2026-01-01", "to": "2026-01-31"}],
    "RefundRequest": [{"reason": "the result was blurry"}],
    "EventRequest": [{"event": "style_selected", "properties": {"style": "model"}},
                     {"event": "headshot_downloaded", "generationId": 5},
                     {"event": "user_shared", "generationId": 92836.0}],
    "BatchRequest": [
        {"imageUrl": URL, "styles": ["corporate"]},
        {"imageUrl": URL, "styles": ["corporate", "model", "creative"], "aspectRatio": "4:5"},
    ],
    "ShareRequest": [{}, {"expiresInHours": 1}, {"expiresInHours": 720}],
    "ExportQuery": [{}, {"format": "png", "size": 64, "watermark": "© Jane"},
                    {"format": "webp", "size": 4096}],
    "FlagUpdateRequest": [{"enabled": False}, {"enabled": True, "percentage": 0, "users": []},
                          {"enabled": True, "percentage": 100, "users": [1, 2**63 - 1]}],
}
INVALID: dict[str, list[dict[str, Any]]] = {
    "DeviceRequest": [
        {},
        {"platform": "blackberry", "token": "ab" * 32},
        {"platform": "ios", "token": ""},
        {"platform": "ios", "token": "a" * 1025},
        {"platform": "web", "subscription": {"endpoint": "https://x.example/y"}},
    ],
    "GenerateRequest": [
        {"style": "corporate"},
        {"imageUrl": "", "style": "corporate"},
        {"imageUrl": "0", "style": "corporate"},
        {"imageUrl": "http://x/media/originals/1/a.jpg", "style": "corporate"},
        {"imageUrl": "u", "style": "s" * 51},
        {"imageUrl": "u", "style": "model", "aspectRatio": "16:9"},
        {"imageUrl": "u" * 2049, "style": "model"},
    ],
    "GrantCreditsRequest": [{"amount": 0, "reason": "r"}, {"amount": 1_000_001, "reason": "r"},
                            {"amount": 1, "reason": ""}, {"amount": "5", "reason": "r"},
                            {"reason": "r"}],
    "HistoryQuery": [{"limit": 0}, {"limit": 101}, {"status": "lost"}, {"cursor": "c" * 65},
                     {"cursor": "0"}, {"cursor": "aWQ6MTA="}, {"cursor": "aWQ6YTA"}],
    "CreditHistoryQuery": [{"type": "gift"}, {"limit": -1}],
    "FavoritesQuery": [{"limit": 0}, {"limit": 101}, {"status": "lost"}],
    "PageQuery": [{"limit": 0}, {"limit": 101}],
    "FailuresQuery": [{"limit": 0}, {"limit": 101}, {"userId": 0}, {"code": "a b"},
                      {"style": "s" * 51}, {"cursor": "c" * 65}],
    "UserEmailQuery": [{}, {"email": "no-at-sign"}, {"email": "a@b@c"}, {"email": "x" * 321}],
    "AnalyticsQuery": [{}, {"from": "2026-01-01"}, {"from": "20260101", "to": "2026-01-01"}],
    "RefundRequest": [{}, {"reason": ""}, {"reason": "r" * 501}],
    "EventRequest": [{"event": "headshot_started"}, {}, {"event": "user_shared",
                                                       "generationId": 0},
                     {"event": "user_shared", "properties": {"nested": {"a": 1}}},
                     {"event": "user_shared", "properties": {"s": "x" * 101}},
                     {"event": "user_shared", "properties": {"n" * 41: 1}},
                     {"event": "user_shared", "properties": {str(i): i for i in range(21)}}],
    "BatchRequest": [
        {"imageUrl": "u", "styles": []},
        {"imageUrl": "u"},
        {"imageUrl": "u", "styles": ["s" * 51]},
        {"imageUrl": "u", "styles": ["corporate"] * 11},
        {"imageUrl": "u", "styles": ["corporate"], "aspectRatio": "16:9"},
    ],
    "ShareRequest": [{"expiresInHours": 0}, {"expiresInHours": 721}, {"expiresInHours": "5"}],
    "ExportQuery": [{"format": "gif"}, {"size": 63}, {"size": 4097}, {"watermark": "w" * 65}],
    "FlagUpdateRequest": [{}, {"enabled": "yes"}, {"enabled": True, "percentage": 101},
                          {"enabled": True, "percentage": -1}, {"enabled": True, "users": [0]},
                          {"enabled": True, "users": 5}, {"enabled": True, "percent": 5}],
}


def _request_models(operations: dict[tuple[str, str], Operation]) -> dict[str, Any]:
    models = {}
    for op in operations.values():
        for model in (op.query, op.body):
            if model is not None and model.__module__ == "api.schemas":
                models[model.__name__] = model
    return models


def test_request_models_round_trip_through_the_document(
    operations: dict[tuple[str, str], Operation], document: dict[str, Any]
) -> None:
    models = _request_models(operations)
    queries = {op.query.__name__ for op in operations.values() if op.query is not None}
    assert set(models) == set(VALID) == set(INVALID)
    schemas = document["components"]["schemas"]
    for name, model in models.items():
        own = model.model_json_schema(ref_template=REF, schema_generator=NamedEnums)
        own_defs = own.pop("$defs", {})
        for def_name, definition in own_defs.items():
            assert schemas[def_name] == definition, def_name
        if name in queries:  # its fields are the operation's parameters, not a component
            assert name not in schemas, name
            validator = schema_validator(document, own)
        else:  # the document carries the model's schema as is
            assert schemas[name] == own, name
            validator = schema_validator(document, {"$ref": REF.format(model=name)})
        for payload in VALID[name]:
            parsed = model.model_validate(payload)
            assert validator.is_valid(payload), (name, payload)
            dumped = parsed.model_dump(mode="json", exclude_none=True, by_alias=True)
            assert validator.is_valid(dumped), (name, dumped)
            assert model.model_validate(dumped) == parsed
        for payload in INVALID[name]:
            assert not validator.is_valid(payload), (name, payload)
            with pytest.raises(ValueError):
                model.model_validate(payload)


def test_query_parameters_are_the_query_models_fields(
    operations: dict[tuple[str, str], Operation], document: dict[str, Any]
) -> None:
    for (method, rule), op in operations.items():
        if op.query is None:
            continue
        operation = document["paths"][openapi_path(rule)][method.lower()]
        names = [p["name"] for p in operation["parameters"] if p["in"] == "query"]
        wire_names = [field.alias or name for name, field in op.query.model_fields.items()]
        assert names == wire_names, f"{method} {rule}"
        for parameter in operation["parameters"]:
            assert "null" not in json.dumps(parameter["schema"]), parameter


# ---- response models: the serializers' real output conforms ---------------------------------

GENERATE = "/api/headshots/generate"
STATUS = "/api/headshots/status/<id:generation_id>"
ITEM = "/api/headshots/history/<id:generation_id>"


def test_real_responses_conform_to_the_document(client: Any, document: dict[str, Any]) -> None:
    user_id = new_user_id()
    user = auth(user_id)

    def check(method: str, rule: str, response: Any, status: int) -> Any:
        assert response.status_code == status, response.get_data(as_text=True)
        assert_conforms(document, method, rule, response)
        return response.get_json()

    check("GET", "/healthz", client.get("/healthz"), 200)
    check("GET", "/readyz", client.get("/readyz"), 200)
    check("GET", "/api/me", client.get("/api/me", headers=user), 200)
    check("GET", "/api/headshots/styles", client.get("/api/headshots/styles", headers=user), 200)
    check("POST", "/api/admin/users/<id:user_id>/credits", client.post(
        f"/api/admin/users/{user_id}/credits", headers=ADMIN,
        json={"amount": 1, "reason": "openapi test"}), 201)
    check("POST", "/api/uploads", upload(client, user_id), 201)
    job = check("POST", GENERATE, generate(client, user_id, uploaded_url(client, user_id)), 202)
    check("GET", STATUS, client.get(f"/api/headshots/status/{job['id']}", headers=user), 200)
    check("GET", ITEM, client.get(f"/api/headshots/history/{job['id']}", headers=user), 200)
    page = check("GET", "/api/headshots/history",
                 client.get("/api/headshots/history?limit=1", headers=user), 200)
    assert page["data"][0]["id"] == job["id"]
    check("GET", "/api/credits/history",
          client.get("/api/credits/history?limit=1", headers=user), 200)

    # errors
    check("GET", "/api/me", client.get("/api/me"), 401)
    check("POST", "/api/admin/users/<id:user_id>/credits", client.post(
        f"/api/admin/users/{user_id}/credits", headers=user, json={}), 403)
    check("GET", "/api/headshots/history",
          client.get("/api/headshots/history?limit=0", headers=user), 400)
    check("GET", ITEM, client.get("/api/headshots/history/999999999999", headers=user), 404)
    broke = new_user_id()
    check("POST", GENERATE, generate(client, broke, uploaded_url(client, broke)), 402)
    deleted = client.delete(f"/api/headshots/history/{job['id']}", headers=user)
    if deleted.status_code != 204:  # 204 if a worker of another test already finished it
        check("DELETE", ITEM, deleted, 409)
    check("POST", "/api/uploads", upload(client, user_id, b"GIF89a not an image"), 415)
    check("GET", "/media/<path:storage_key>", client.get("/media/originals/1/x.jpg"), 404)
