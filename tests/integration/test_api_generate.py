"""`POST /api/headshots/generate`: charge and job in one transaction, or nothing at all."""

from __future__ import annotations

from typing import Any

import pytest

from devstack.waiting import wait_until
from tests.support.api_calls import generate, grant, me, uploaded_url
from tests.support.domain import jobs_of
from tests.support.errors import assert_error
from tests.support.users import auth, new_user_id

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")


def test_generate_charges_once_and_queues(client: Any) -> None:
    user_id = new_user_id()
    grant(client, user_id, 5)
    url = uploaded_url(client, user_id)
    response = generate(client, user_id, url, style="model", aspect_ratio="4:5")
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert response.headers["Location"] == f"/api/headshots/status/{body['id']}"
    assert body["status"] == "queued" and body["progress"] == 0
    assert body["style"] == "model" and body["aspectRatio"] == "4:5"
    assert body["resultUrls"] == [] and body["error"] is None and body["retryCount"] == 0
    assert body["originalImageUrl"].startswith("http")
    account = me(client, user_id)
    assert account["credits"] == 3  # the model style costs 2
    assert account["totalCreditsSpent"] == 2
    entries = client.get("/api/credits/history", headers=auth(user_id)).get_json()["data"]
    assert [(e["type"], e["amount"], e["generationId"], e["balanceAfter"]) for e in entries] == [
        ("headshot", -2, body["id"], 3), ("grant", 5, None, 5)]


def test_without_credits_it_is_402_and_nothing_changes(client: Any) -> None:
    user_id = new_user_id()
    url = uploaded_url(client, user_id)
    assert_error(generate(client, user_id, url), 402, "insufficient_credits")
    assert me(client, user_id)["credits"] == 0
    assert jobs_of(user_id) == 0


def _other_users_url(client: Any) -> str:
    return uploaded_url(client, new_user_id())


@pytest.mark.parametrize(
    ("make_body", "field"),
    [
        (lambda url, c: {"imageUrl": url, "style": "no-such-style"}, "style"),
        (lambda url, c: {"imageUrl": url, "style": "corporate", "aspectRatio": "7:3"},
         "aspectRatio"),
        (lambda url, c: {"imageUrl": url, "style": "corporate", "aspectRatio": 5}, "aspectRatio"),
        (lambda url, c: {"style": "corporate"}, "imageUrl"),
        (lambda url, c: {"imageUrl": url}, "style"),
        (lambda url, c: {"imageUrl": "http://10.0.0.1/media/x.jpg", "style": "corporate"},
         "imageUrl"),
        (lambda url, c: {"imageUrl": "file:///etc/passwd", "style": "corporate"}, "imageUrl"),
        (lambda url, c: {"imageUrl": url.replace("127.0.0.1", "evil.example"),
                         "style": "corporate"}, "imageUrl"),
        (lambda url, c: {"imageUrl": url.replace("sig=", "sig=A"), "style": "corporate"},
         "imageUrl"),
        (lambda url, c: {"imageUrl": _other_users_url(c), "style": "corporate"}, "imageUrl"),
        (lambda url, c: {"imageUrl": url, "style": "corporate" * 20}, "style"),
        (lambda url, c: [url], "body"),
    ],
    ids=["unknown style", "bad ratio", "ratio not a string", "no url", "no style",
         "private address", "file url", "other host", "tampered signature",
         "another user's upload", "huge style", "not an object"],
)
def test_bad_generate_requests_are_400_and_charge_nothing(client: Any, make_body: Any,
                                                         field: str) -> None:
    user_id = new_user_id()
    grant(client, user_id, 3)
    url = uploaded_url(client, user_id)
    response = client.post("/api/headshots/generate", headers=auth(user_id),
                           json=make_body(url, client))
    body = assert_error(response, 400)
    assert body["error"]["message"].startswith(field), body
    assert me(client, user_id)["credits"] == 3
    assert jobs_of(user_id) == 0


def test_non_json_body_is_400(client: Any) -> None:
    response = client.post("/api/headshots/generate", headers=auth(new_user_id()),
                           data="imageUrl=x", content_type="application/x-www-form-urlencoded")
    assert_error(response, 400, "invalid_request")


def test_a_batch_charges_each_style_in_its_order_in_one_go(client: Any) -> None:
    """The jobs of a batch and their charges are written together: ids in the order of the
    styles, one ledger row each carrying the balance after it, one started event each."""
    user_id = new_user_id()
    grant(client, user_id, 10)
    styles = ["model", "corporate", "casual", "creative"]  # model costs 2, the others 1
    response = client.post("/api/headshots/batch", headers=auth(user_id),
                           json={"imageUrl": uploaded_url(client, user_id), "styles": styles})
    assert response.status_code == 202, response.get_json()
    jobs = response.get_json()["generations"]
    assert [job["style"] for job in jobs] == styles
    ids = [job["id"] for job in jobs]
    assert ids == sorted(ids)
    assert [job["creditCost"] for job in jobs] == [2, 1, 1, 1]
    assert me(client, user_id)["credits"] == 5
    entries = client.get("/api/credits/history", headers=auth(user_id)).get_json()["data"]
    assert [(e["type"], e["amount"], e["generationId"], e["balanceAfter"])
            for e in reversed(entries)] == [
        ("grant", 10, None, 10), ("headshot", -2, ids[0], 8), ("headshot", -1, ids[1], 7),
        ("headshot", -1, ids[2], 6), ("headshot", -1, ids[3], 5)]
    assert _started_events(user_id) == ids
    batch = client.get(f"/api/headshots/batch/{jobs[0]['batchId']}", headers=auth(user_id))
    assert batch.status_code == 200, batch.get_json()
    assert [job["id"] for job in batch.get_json()["generations"]] == ids


def test_a_batch_the_balance_cannot_pay_in_full_charges_nothing(client: Any) -> None:
    user_id = new_user_id()
    grant(client, user_id, 3)
    response = client.post("/api/headshots/batch", headers=auth(user_id), json={
        "imageUrl": uploaded_url(client, user_id),
        "styles": ["model", "corporate", "casual"]})  # 4 credits: the first two would do
    assert_error(response, 402, "insufficient_credits")
    assert me(client, user_id)["credits"] == 3
    assert jobs_of(user_id) == 0
    assert _started_events(user_id) == []
    assert _batches_of(user_id) == 0


def test_generate_keeps_the_tokens_email_current(client: Any) -> None:
    user_id = new_user_id()
    grant(client, user_id, 2)
    url = uploaded_url(client, user_id)
    for email in ("first@example.com", "second@example.com"):
        response = client.post("/api/headshots/generate",
                               headers=auth(user_id, email=email),
                               json={"imageUrl": url, "style": "corporate"})
        assert response.status_code == 202, response.get_json()
        assert me(client, user_id)["email"] == email


def test_a_style_taken_off_offer_is_refused_within_seconds(client: Any) -> None:
    """Accepting a job reads the styles from a copy each process keeps for
    ACTIVE_STYLES_SECONDS: a style made inactive is refused once that copy is renewed."""
    from models.styles import ACTIVE_STYLES_SECONDS, forget_active_styles

    user_id = new_user_id()
    grant(client, user_id, 5)
    url = uploaded_url(client, user_id)
    assert generate(client, user_id, url, style="casual").status_code == 202
    _set_active("casual", False)
    try:
        wait_until(lambda: not _offered("casual"), timeout=ACTIVE_STYLES_SECONDS + 10,
                   interval=0.2, message="the inactive style refused")
        assert_error(generate(client, user_id, url, style="casual"), 400, "invalid_style")
    finally:
        _set_active("casual", True)
        forget_active_styles()  # the next tests in this process see it offered again
    assert generate(client, user_id, url, style="casual").status_code == 202


def _offered(style_id: str) -> bool:
    from models.errors import InvalidRequest
    from models.styles import get_active_style
    from services.unit_of_work import unit_of_work

    with unit_of_work() as db_session:
        try:
            get_active_style(db_session, style_id)
        except InvalidRequest:
            return False
        return True


def _set_active(style_id: str, active: bool) -> None:
    from sqlalchemy import update

    from models.styles import Style
    from services.unit_of_work import unit_of_work

    with unit_of_work() as db_session:
        db_session.execute(update(Style).where(Style.id == style_id).values(active=active))
        db_session.commit()


def _started_events(user_id: int) -> list[int]:
    """The generation ids of the user's `headshot_started` events, oldest first."""
    from sqlalchemy import select

    from models.events import Event
    from services.unit_of_work import unit_of_work

    with unit_of_work() as db_session:
        return [generation_id for generation_id in db_session.scalars(
            select(Event.generation_id)
            .where(Event.user_id == user_id, Event.name == "headshot_started")
            .order_by(Event.id)) if generation_id is not None]


def _batches_of(user_id: int) -> int:
    from sqlalchemy import func, select

    from models.batches import HeadshotBatch
    from services.unit_of_work import unit_of_work

    with unit_of_work() as db_session:
        return int(db_session.scalar(select(func.count()).select_from(HeadshotBatch)
                                     .where(HeadshotBatch.user_id == user_id)) or 0)


def _expire_upload(image_url: str) -> None:
    from media import get_signer
    from models.uploads import Upload
    from services.unit_of_work import unit_of_work

    storage_key = get_signer().storage_key_from_url(image_url)
    with unit_of_work() as db_session:
        upload = db_session.query(Upload).filter_by(storage_key=storage_key).one()
        upload.expires_at = upload.created_at
        db_session.commit()


@pytest.mark.parametrize("path", ["/api/headshots/generate", "/api/headshots/batch"])
@pytest.mark.parametrize("credits", [0, 5], ids=["no credits", "funded"])
@pytest.mark.parametrize("styles", [["corporate"], ["corporate", "no-such-style"]],
                         ids=["known style", "unknown style"])
def test_the_uploads_refusal_comes_before_the_styles_and_the_balances(
        client: Any, path: str, credits: int, styles: list[str]) -> None:
    """The upload is checked inside the charging statement; what it refuses is still told
    first, whatever else is wrong: not the user's upload (400), then a gone original (409)."""
    user_id = new_user_id()
    if credits:
        grant(client, user_id, credits)
    own_url = uploaded_url(client, user_id)
    other_users_url = uploaded_url(client, new_user_id())
    expired_url = uploaded_url(client, user_id)
    _expire_upload(expired_url)

    def post(url: str) -> Any:
        body: dict[str, Any] = {"imageUrl": url, "aspectRatio": "1:1"}
        if path.endswith("batch"):
            body["styles"] = styles
        else:
            body["style"] = styles[-1]
        return client.post(path, headers=auth(user_id), json=body)

    assert_error(post(other_users_url), 400, "invalid_image_url")
    assert_error(post(expired_url), 409, "original_expired")
    if styles[-1] == "no-such-style":
        assert_error(post(own_url), 400, "invalid_style")
    elif not credits:
        assert_error(post(own_url), 402, "insufficient_credits")
    assert me(client, user_id)["credits"] == credits
    assert jobs_of(user_id) == 0
