"""Edges a client meets (§12): an empty body where every field is optional, 204s without a
Content-Type, a batch's Location."""

from __future__ import annotations

from typing import Any

import pytest

from api.openapi import app_operations, openapi_path
from api.parsing import body_required
from tests.support.domain import funded_user, make_job, signed_url, stored_upload
from tests.support.errors import assert_error
from tests.support.routes import path_of
from tests.support.users import auth

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")
SHARE = "/api/headshots/<id:generation_id>/share"


def test_a_body_of_optional_fields_may_be_left_out(app: Any, client: Any) -> None:
    optional = [(method, rule) for (method, rule), op in app_operations(app).items()
                if op.body is not None and not body_required(op.body)]
    assert ("POST", SHARE) in optional
    rules = {rule.rule: rule for rule in app.url_map.iter_rules()}
    for method, rule in optional:  # no route takes it as a bad body (a missing id: 404)
        user_id = funded_user(0)
        for headers in ({}, {"Content-Type": "application/json"}):
            response = client.open(path_of(rules[rule]), method=method,
                                   headers={**auth(user_id), **headers})
            assert response.status_code != 400, (method, rule, response.data)
    user_id = funded_user(1)
    job = make_job(user_id, stored_upload(user_id), "completed")
    response = client.post(f"/api/headshots/{job['id']}/share", headers=auth(user_id))
    assert response.status_code == 201, response.data
    assert response.get_json()["shareUrl"]
    # Sent, a body is still a JSON object.
    for body in (b"null", b"[]", b"{", b"7"):
        refused = client.post(f"/api/headshots/{job['id']}/share", data=body,
                              headers={**auth(user_id), "Content-Type": "application/json"})
        assert_error(refused, 400, "invalid_request", "body")


def test_a_body_with_required_fields_may_not(client: Any) -> None:
    user_id = funded_user(1)
    for path in ("/api/headshots/generate", "/api/headshots/batch", "/api/events"):
        assert_error(client.post(path, headers=auth(user_id)), 400, "invalid_request", "body")


def test_the_document_says_which_bodies_are_required(app: Any, client: Any) -> None:
    document = client.get("/openapi.json").get_json()
    for (method, rule), op in app_operations(app).items():
        if op.body is not None:
            body = document["paths"][openapi_path(rule)][method.lower()]["requestBody"]
            assert body["required"] is body_required(op.body), (method, rule)
    share = document["paths"][openapi_path(SHARE)]["post"]["requestBody"]
    assert share["required"] is False


def test_no_content_answers_have_no_content_type(client: Any) -> None:
    user_id = funded_user(1)
    job = make_job(user_id, stored_upload(user_id), "completed")
    assert client.post(f"/api/headshots/{job['id']}/share", headers=auth(user_id),
                       json={"expiresInHours": 1}).status_code == 201
    for path in (f"/api/headshots/{job['id']}/share", f"/api/headshots/history/{job['id']}"):
        response = client.delete(path, headers=auth(user_id))
        assert response.status_code == 204, response.data
        assert response.data == b""
        assert "Content-Type" not in response.headers, (path, dict(response.headers))
        assert "Content-Length" not in response.headers, path


def test_a_batch_is_located_where_it_can_be_read(client: Any) -> None:
    user_id = funded_user(2)
    response = client.post("/api/headshots/batch", headers=auth(user_id), json={
        "imageUrl": signed_url(stored_upload(user_id)), "styles": ["corporate", "casual"]})
    assert response.status_code == 202, response.data
    location = response.headers["Location"]
    assert location == f"/api/headshots/batch/{response.get_json()['batchId']}"
    batch = client.get(location, headers=auth(user_id))
    assert batch.status_code == 200
    assert batch.get_json()["batchId"] == response.get_json()["batchId"]
    documented = client.get("/openapi.json").get_json()["paths"]["/api/headshots/batch"]
    assert "Location" in documented["post"]["responses"]["202"]["headers"]
