"""Operators' refunds and the audit log (API guide §8), and behaviour events (API guide §7)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import select

from models.events import Event
from models.job.attempts import claim_job
from models.job.endings import fail_job
from services.unit_of_work import unit_of_work
from tests.support.api_calls import generate, grant, me, uploaded_url
from tests.support.domain import make_job, stored_upload
from tests.support.errors import assert_error
from tests.support.users import ADMIN, auth, make_token, new_user_id

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")
OPERATOR = 77


def operator_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(OPERATOR, role='admin')}"}


def refund(client: Any, job_id: int, reason: str = "blurry result") -> Any:
    return client.post(f"/api/admin/headshots/{job_id}/refund", headers=operator_headers(),
                       json={"reason": reason})


def events_of(user_id: int) -> list[tuple[str, str, int | None, dict[str, Any]]]:
    with unit_of_work() as db_session:
        rows = db_session.scalars(select(Event).where(Event.user_id == user_id)
                                  .order_by(Event.id))
        return [(e.name, e.source, e.generation_id, e.properties) for e in rows]


def test_a_completed_headshot_is_refunded_once_and_audited(client: Any) -> None:
    user_id = new_user_id()
    granted = client.post(f"/api/admin/users/{user_id}/credits", headers=operator_headers(),
                          json={"amount": 3, "reason": "welcome"})
    assert granted.status_code == 201
    job = make_job(user_id, stored_upload(user_id), "completed")["id"]
    assert me(client, user_id)["credits"] == 2
    response = refund(client, job, "the result was blurry")
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"generationId": job, "refundedAmount": 1, "balance": 3}
    assert_error(refund(client, job), 409, "already_refunded")
    assert me(client, user_id)["credits"] == 3
    ledger = client.get("/api/credits/history?type=refund", headers=auth(user_id)).get_json()
    assert [(e["generationId"], e["amount"]) for e in ledger["data"]] == [(job, 1)]

    audit = client.get("/api/admin/audit?limit=100", headers=ADMIN).get_json()["data"]
    mine = [entry for entry in audit if entry["userId"] == user_id]
    assert [(e["action"], e["amount"], e["generationId"]) for e in mine] == [
        ("refund", 1, job), ("grant", 3, None)]
    assert mine[0]["operatorId"] == OPERATOR and mine[0]["reason"] == "the result was blurry"
    assert (mine[1]["operatorId"], mine[1]["reason"]) == (OPERATOR, "welcome")


def test_failed_running_foreign_and_missing_headshots_are_not_refunded(client: Any) -> None:
    user_id = new_user_id()
    grant(client, user_id, 5)
    key = stored_upload(user_id)
    failed = make_job(user_id, key, "failed")["id"]
    queued = make_job(user_id, key, "queued")["id"]
    assert_error(refund(client, failed), 409, "already_refunded")
    assert_error(refund(client, queued), 409, "generation_in_progress")
    assert_error(refund(client, 999_999_999_999), 404)
    assert_error(client.post(f"/api/admin/headshots/{queued}/refund", headers=auth(user_id),
                             json={"reason": "me"}), 403)
    for body in ({}, {"reason": ""}, {"reason": "x" * 501}, {"reason": 5}):
        assert_error(client.post(f"/api/admin/headshots/{queued}/refund",
                                 headers=operator_headers(), json=body), 400, field="reason")
    assert me(client, user_id)["credits"] == 4  # the failed one was refunded automatically


def test_racing_operators_refund_once(app: Any) -> None:
    client = app.test_client()
    user_id = new_user_id()
    grant(client, user_id, 1)
    job = make_job(user_id, stored_upload(user_id), "completed")["id"]

    def attempt(_: int) -> int:
        return int(refund(app.test_client(), job).status_code)

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(pool.map(attempt, range(8)))
    assert statuses == [200] + [409] * 7
    assert me(client, user_id)["credits"] == 1


def test_the_service_records_the_funnel_and_the_app_its_own_events(client: Any) -> None:
    user_id = new_user_id()
    grant(client, user_id, 3)
    url = uploaded_url(client, user_id)
    done = make_job(user_id, stored_upload(user_id), "completed")["id"]
    failing = generate(client, user_id, url).get_json()["id"]
    with unit_of_work() as db_session:
        claimed = claim_job(db_session, failing)
        assert claimed is not None
        fail_job(db_session, failing, code="getimg_rejected", message="no",
                        attempt=claimed.attempts)
        db_session.commit()
    assert client.get(f"/api/headshots/{done}/export", headers=auth(user_id)).status_code == 200
    assert client.post(f"/api/headshots/{done}/share", headers=auth(user_id),
                       json={}).status_code == 201
    response = client.post("/api/events", headers=auth(user_id), json={
        "event": "style_selected", "properties": {"style": "model", "screen": "picker"}})
    assert response.status_code == 202 and response.get_json() == {"status": "accepted"}
    assert client.post("/api/events", headers=auth(user_id), json={
        "event": "user_shared", "generationId": done}).status_code == 202

    seen = [(name, source, generation) for name, source, generation, _ in events_of(user_id)]
    assert seen == [
        ("headshot_started", "service", done), ("headshot_completed", "service", done),
        ("headshot_started", "service", failing), ("generation_failed", "service", failing),
        ("headshot_downloaded", "service", done), ("user_shared", "service", done),
        ("style_selected", "client", None), ("user_shared", "client", done),
    ]
    completed_props, failed_props = events_of(user_id)[1][3], events_of(user_id)[3][3]
    assert completed_props == {"style": "corporate"}  # written by the completing statement
    assert failed_props == {"style": "corporate", "code": "getimg_rejected"}


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"event": "headshot_completed"}, 400, "event"),  # the service's own, not the app's
    ({"event": "nope"}, 400, "event"),
    ({}, 400, "event"),
    ({"event": "style_selected", "properties": {"big": "x" * 3000}}, 400, "properties"),
    ({"event": "style_selected", "properties": {"nested": {"a": 1}}}, 400, "properties"),
    ({"event": "style_selected", "properties": ["a"]}, 400, "properties"),
    ({"event": "style_selected", "properties": {"k": "a\x00b"}}, 400, "properties"),
    ({"event": "user_shared", "generationId": "5"}, 400, "generationId"),
    ({"event": "user_shared", "generationId": 999_999_999_999}, 404, None),
])
def test_bad_events_change_nothing(client: Any, body: dict[str, Any], status: int,
                                   field: str | None) -> None:
    user_id = new_user_id()
    assert_error(client.post("/api/events", headers=auth(user_id), json=body), status,
                 field=field)
    assert events_of(user_id) == []


def test_another_users_headshot_is_404_for_events(client: Any) -> None:
    owner = new_user_id()
    grant(client, owner, 1)
    theirs = make_job(owner, stored_upload(owner), "completed")["id"]
    stranger = new_user_id()
    assert_error(client.post("/api/events", headers=auth(stranger),
                             json={"event": "user_shared", "generationId": theirs}), 404)
    assert events_of(stranger) == []


@pytest.mark.parametrize("raw", [
    b'{"event": "style_selected", "properties": {"x": NaN}}',
    b'{"event": "style_selected", "properties": {"x": Infinity}}',
    b'{"event": "style_selected", "properties": {"x": "\\ud800"}}',
    b'{"event": "style_selected", "properties": {"\\udfff": 1}}',
])
def test_json_that_is_not_json_is_400_not_500(client: Any, raw: bytes) -> None:
    user_id = new_user_id()
    response = client.post("/api/events", headers=auth(user_id), data=raw,
                           content_type="application/json")
    assert_error(response, 400, field="properties")  # the field that holds it, named
    assert events_of(user_id) == []
