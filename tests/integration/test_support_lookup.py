"""`GET /api/admin/users/{userId}` and `GET /api/admin/users?email=` (§14): one user's file for
support (balance, ledger with what each entry paid for, headshots, events, live share links,
webhook deliveries, devices and push deliveries), each list bounded, and every look written
to the audit log, one that finds nobody included."""

from __future__ import annotations

import base64
import os
import secrets
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from models.credits import grant_credits
from models.events import EventName
from models.outbox import (
    Channel,
    EventType,
    OutboxEvent,
    add_event,
    mark_delivered,
    mark_failed_attempt,
)
from models.shares import HeadshotShare
from models.users import ensure_user
from services import sharing
from services.events import record_client_event
from services.support import LIST_LIMIT
from services.unit_of_work import unit_of_work
from tests.support.domain import funded_user, make_job, stored_upload
from tests.support.errors import assert_error
from tests.support.users import ADMIN, auth, new_user_id

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")


def _latest_audit(client: Any, operator: dict[str, str] = ADMIN) -> dict[str, Any]:
    row: dict[str, Any] = client.get("/api/admin/audit?limit=1", headers=operator) \
        .get_json()["data"][0]
    return row


def _deliveries(user_id: int, job_id: int) -> tuple[int, int, int]:
    """Three webhook events of the user: one delivered, one given up, one pending."""
    with unit_of_work() as db_session:
        ids = [add_event(db_session, kind, user_id=user_id, generation_id=job_id)
               for kind in (EventType.HEADSHOT_COMPLETED, EventType.HEADSHOT_FAILED,
                            EventType.HEADSHOT_FAILED)]
        mark_delivered(db_session, ids[0])
        gave_up = db_session.get(OutboxEvent, ids[1])
        assert gave_up is not None
        mark_failed_attempt(db_session, gave_up, retry_in=timedelta(0),
                            error="HTTP 410 from the receiver", give_up=True)
        db_session.commit()
    return ids[0], ids[1], ids[2]


def test_a_users_file_says_where_the_credits_went(client: Any) -> None:
    user_id = funded_user(10)
    key = stored_upload(user_id)
    done = make_job(user_id, key, "completed")["id"]
    failed = make_job(user_id, key, "failed")["id"]
    sharing.share(user_id=user_id, job_id=done, lifetime_hours=24)
    record_client_event(user_id=user_id, name=EventName.HEADSHOT_DOWNLOADED, job_id=done,
                        properties={"format": "jpeg"})
    delivered, gave_up, pending = _deliveries(user_id, failed)

    response = client.get(f"/api/admin/users/{user_id}", headers=ADMIN)

    assert response.status_code == 200, response.get_json()
    found = response.get_json()
    cost = next(h for h in found["headshots"]["data"] if h["id"] == done)["creditCost"]
    assert found["id"] == user_id and found["credits"] == 10 - cost  # the failure came back
    assert found["sameEmailUserIds"] == []

    ledger = found["ledger"]
    assert ledger["truncated"] is False
    assert sum(entry["amount"] for entry in ledger["data"]) == found["credits"]
    assert [(e["type"], e["headshot"] and e["headshot"]["id"]) for e in ledger["data"]] == [
        ("refund", failed), ("headshot", failed), ("headshot", done), ("grant", None)]
    assert ledger["data"][0]["headshot"] == {"id": failed, "round": 0, "style": "corporate",
                                             "status": "failed", "deleted": False}
    assert ledger["data"][0]["balanceAfter"] == found["credits"]

    headshots = {h["id"]: h for h in found["headshots"]["data"]}
    assert list(headshots) == [failed, done]
    assert headshots[failed]["error"] == {"code": "getimg_rejected",
                                          "message": "the generator refused the photo"}
    assert (headshots[failed]["creditsCharged"], headshots[failed]["creditsRefunded"]) == \
        (cost, cost)
    assert (headshots[done]["creditsCharged"], headshots[done]["creditsRefunded"]) == (cost, 0)
    assert headshots[done]["status"] == "completed" and headshots[done]["completedAt"]
    assert headshots[failed]["attempts"] == 1

    events = [(e["name"], e["source"], e["generationId"]) for e in found["events"]["data"]]
    assert ("headshot_downloaded", "client", done) in events
    assert ("headshot_started", "service", failed) in events
    assert [(s["generationId"], s["style"]) for s in found["shareLinks"]["data"]] == \
        [(done, "corporate")]
    deliveries = {d["id"]: d for d in found["webhookDeliveries"]["data"]}
    # The jobs' own endings wrote theirs (the test settings turn webhooks on); then these.
    assert list(deliveries)[:3] == [pending, gave_up, delivered]
    assert [(d["eventType"], d["generationId"]) for d in list(deliveries.values())[3:]] == \
        [("headshot.failed", failed), ("headshot.completed", done)]
    assert [deliveries[i]["state"] for i in (pending, gave_up, delivered)] == \
        ["pending", "gave_up", "delivered"]
    assert deliveries[gave_up]["lastError"] == "HTTP 410 from the receiver"
    assert deliveries[pending]["nextAttemptAt"] and not deliveries[delivered]["nextAttemptAt"]

    assert {"action": "view_user", "operatorId": 1, "userId": user_id, "amount": None,
            "generationId": None, "reason": f"support lookup: userId={user_id}"
            }.items() <= _latest_audit(client).items()


def test_a_revoked_or_expired_link_is_not_live(client: Any) -> None:
    user_id = funded_user(10)
    key = stored_upload(user_id)
    revoked, expired, live = (make_job(user_id, key, "completed")["id"] for _ in range(3))
    for job_id in (revoked, expired, live):
        sharing.share(user_id=user_id, job_id=job_id, lifetime_hours=1)
    sharing.unshare(user_id=user_id, job_id=revoked)
    with unit_of_work() as db_session:
        db_session.execute(update(HeadshotShare).where(HeadshotShare.generation_id == expired)
                           .values(expires_at=HeadshotShare.created_at))
        db_session.commit()

    found = client.get(f"/api/admin/users/{user_id}", headers=ADMIN).get_json()

    assert [link["generationId"] for link in found["shareLinks"]["data"]] == [live]


def test_by_email_in_any_case_the_newest_user_and_the_others_with_it(client: Any) -> None:
    email = f"Ticket.{uuid.uuid4().hex[:10]}@Example.com"
    older, newer = new_user_id(), new_user_id()
    for user_id in (older, newer):
        with unit_of_work() as db_session:
            ensure_user(db_session, user_id=user_id, email=email)
            db_session.commit()

    response = client.get("/api/admin/users", query_string={"email": email.upper()},
                          headers=ADMIN)

    assert response.status_code == 200, response.get_json()
    found = response.get_json()
    assert (found["id"], found["email"], found["sameEmailUserIds"]) == (newer, email, [older])
    assert {"action": "view_user", "userId": newer,
            "reason": f"support lookup: email={email.upper()}"}.items() \
        <= _latest_audit(client).items()


def test_a_lookup_that_finds_nobody_is_404_and_audited(client: Any) -> None:
    operator = auth(new_user_id(), role="admin")
    nobody = new_user_id()
    assert_error(client.get(f"/api/admin/users/{nobody}", headers=operator), 404, "not_found")
    entry = _latest_audit(client, operator)
    assert {"action": "view_user", "userId": None, "amount": None,
            "reason": f"support lookup: userId={nobody}"}.items() <= entry.items()

    email = f"nobody.{uuid.uuid4().hex[:10]}@example.com"
    response = client.get("/api/admin/users", query_string={"email": email}, headers=operator)
    assert_error(response, 404, "not_found")
    assert email not in response.get_data(as_text=True)  # the answer does not echo it
    assert {"action": "view_user", "userId": None,
            "reason": f"support lookup: email={email}"}.items() \
        <= _latest_audit(client, operator).items()


def test_each_list_is_the_latest_rows_and_says_when_older_ones_exist(client: Any) -> None:
    user_id = funded_user(0)
    with unit_of_work() as db_session:
        for n in range(LIST_LIMIT + 1):
            grant_credits(db_session, user_id=user_id, amount=1, reason=f"grant {n}")
        db_session.commit()

    found = client.get(f"/api/admin/users/{user_id}", headers=ADMIN).get_json()

    ledger = found["ledger"]
    assert ledger["truncated"] is True and len(ledger["data"]) == LIST_LIMIT
    assert ledger["data"][0]["description"] == f"grant {LIST_LIMIT}"  # the latest first
    assert ledger["data"][-1]["description"] == "grant 1"  # the oldest left out
    assert found["credits"] == LIST_LIMIT + 1
    assert found["headshots"] == {"data": [], "truncated": False}


def _push_deliveries(user_id: int, kept: int, gone: int) -> tuple[int, int]:
    """Two push rows of the user: one delivered to the device it kept, one the provider ended
    for the device it removed since."""
    with unit_of_work() as db_session:
        delivered = add_event(db_session, EventType.HEADSHOT_COMPLETED, user_id=user_id,
                              channel=Channel.PUSH, device_id=kept)
        gave_up = add_event(db_session, EventType.BATCH_FAILED, user_id=user_id,
                            batch_id=uuid.uuid4(), channel=Channel.PUSH, device_id=gone)
        mark_delivered(db_session, delivered)
        ended = db_session.get(OutboxEvent, gave_up)
        assert ended is not None
        mark_failed_attempt(db_session, ended, retry_in=timedelta(0),
                            error="HTTP 410: Unregistered", give_up=True)
        db_session.commit()
    return delivered, gave_up


def test_the_file_shows_the_devices_and_their_push_deliveries_never_their_secrets(
        client: Any) -> None:
    user_id = funded_user(0)
    token = secrets.token_hex(32)
    endpoint = f"https://fcm.googleapis.com/fcm/send/{secrets.token_urlsafe(24)}"
    auth_secret = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
    web = client.post("/api/me/devices", headers=auth(user_id), json={
        "platform": "web", "subscription": {"endpoint": endpoint, "keys": {
            "p256dh": base64.urlsafe_b64encode(b"\x04" + os.urandom(64)).decode(),
            "auth": auth_secret}}}).get_json()
    ios = client.post("/api/me/devices", headers=auth(user_id),
                      json={"platform": "ios", "token": token}).get_json()
    removed = client.post("/api/me/devices", headers=auth(user_id), json={
        "platform": "android", "token": secrets.token_urlsafe(120)}).get_json()
    delivered, gave_up = _push_deliveries(user_id, ios["id"], removed["id"])
    assert client.delete(f"/api/me/devices/{removed['id']}",
                         headers=auth(user_id)).status_code == 204

    response = client.get(f"/api/admin/users/{user_id}", headers=ADMIN)

    assert response.status_code == 200, response.get_json()
    found = response.get_json()
    devices = found["devices"]
    assert devices["truncated"] is False
    assert [(d["id"], d["platform"]) for d in devices["data"]] == \
        [(ios["id"], "ios"), (web["id"], "web")]  # the newest first; the removed one gone
    assert all(set(d) == {"id", "platform", "createdAt", "lastSeenAt"} for d in devices["data"])
    assert devices["data"][0]["createdAt"] == ios["createdAt"]
    assert devices["data"][0]["lastSeenAt"] >= ios["createdAt"]
    text = response.get_data(as_text=True)
    assert token not in text and endpoint not in text and auth_secret not in text

    pushes = found["pushDeliveries"]
    assert pushes["truncated"] is False
    assert [(p["id"], p["deviceId"], p["state"], p["eventType"]) for p in pushes["data"]] == [
        (gave_up, removed["id"], "gave_up", "batch.failed"),
        (delivered, ios["id"], "delivered", "headshot.completed")]
    assert pushes["data"][0]["lastError"] == "HTTP 410: Unregistered"
    assert pushes["data"][0]["batchId"] and pushes["data"][0]["gaveUpAt"]
    assert pushes["data"][1]["deliveredAt"] and pushes["data"][1]["nextAttemptAt"] is None
    # The outbox holds both channels: each list has its own rows only.
    assert not {delivered, gave_up} & {d["id"] for d in found["webhookDeliveries"]["data"]}


def test_the_push_deliveries_are_the_latest_and_say_when_older_ones_exist(
        client: Any) -> None:
    user_id = funded_user(0)
    device = client.post("/api/me/devices", headers=auth(user_id), json={
        "platform": "ios", "token": secrets.token_hex(32)}).get_json()
    with unit_of_work() as db_session:
        ids = [add_event(db_session, EventType.HEADSHOT_CANCELLED, user_id=user_id,
                         generation_id=n + 1, channel=Channel.PUSH, device_id=device["id"])
               for n in range(LIST_LIMIT + 1)]
        db_session.execute(update(OutboxEvent).where(OutboxEvent.id.in_(ids))
                           .values(delivered_at=OutboxEvent.created_at))
        db_session.commit()

    found = client.get(f"/api/admin/users/{user_id}", headers=ADMIN).get_json()

    pushes = found["pushDeliveries"]
    assert pushes["truncated"] is True and len(pushes["data"]) == LIST_LIMIT
    assert [p["id"] for p in pushes["data"]] == ids[:0:-1]  # the latest first; the oldest out
    assert found["webhookDeliveries"] == {"data": [], "truncated": False}
    assert [d["id"] for d in found["devices"]["data"]] == [device["id"]]
