"""Deleting a headshot, as an attacker would: many deletes of one job at once, and what stays
reachable afterwards (the original selfie and its upload URL)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from sqlalchemy import select

from media import get_storage
from tests.support.domain import funded_user, make_job, signed_url, stored_upload
from tests.support.errors import assert_error
from tests.support.hostile import assert_unchanged, footprint, tried
from tests.support.media import fetch_media
from tests.support.users import auth

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")

RACERS = 20


def _refunds(generation_id: int) -> list[int]:
    from models.credits import CreditEntry, EntryType
    from services.unit_of_work import unit_of_work

    with unit_of_work() as db_session:
        return list(db_session.scalars(
            select(CreditEntry.amount).where(CreditEntry.generation_id == generation_id,
                                             CreditEntry.type == EntryType.REFUND)))


def _balance(user_id: int) -> int:
    from models.users import User
    from services.unit_of_work import unit_of_work

    with unit_of_work() as db_session:
        user = db_session.get(User, user_id)
        assert user is not None
        return user.credits


@pytest.mark.parametrize("trial", range(4))
@pytest.mark.parametrize("outcome", ["queued", "completed"])
def test_racing_deletes_of_one_job_succeed_exactly_once(web: str, outcome: str,
                                                        trial: int) -> None:
    """20 DELETEs of one job at once: one 204, nineteen §3 404s. A queued job is cancelled and
    refunded by that one delete, once."""
    tried("deletes", RACERS)
    user_id = funded_user(3)  # a user per trial: the trials never share a rate budget
    job = make_job(user_id, stored_upload(user_id), outcome)
    url = f"{web}/api/headshots/history/{job['id']}"
    headers = auth(user_id)

    def delete(_: int) -> requests.Response:
        return requests.delete(url, headers=headers, timeout=30)

    with ThreadPoolExecutor(max_workers=RACERS) as pool:
        answers = list(pool.map(delete, range(RACERS)))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [204] + [404] * (RACERS - 1), statuses
    for answer in answers:
        if answer.status_code == 404:
            assert_error(answer, 404, "not_found")
    assert requests.get(url, headers=headers, timeout=10).status_code == 404
    assert _refunds(job["id"]) == ([1] if outcome == "queued" else [])
    assert _balance(user_id) == (3 if outcome == "queued" else 2)


# ---- what a deleted headshot leaves reachable -------------------------------------------------


def _headshot(client: Any, user_id: int, job_id: int) -> dict[str, Any]:
    response = client.get(f"/api/headshots/history/{job_id}", headers=auth(user_id))
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def _served(client: Any, url: str) -> bool:
    """The signed media URL serves its image (True) or is the §3 404 (False)."""
    response = fetch_media(client, url)
    if response.status_code == 200:
        return True
    assert_error(response, 404, "not_found")
    return False


def _generate(client: Any, user_id: int, image_url: str) -> Any:
    return client.post("/api/headshots/generate", headers=auth(user_id),
                       json={"imageUrl": image_url, "style": "corporate"})


def _delete(client: Any, user_id: int, job_id: int) -> None:
    response = client.delete(f"/api/headshots/history/{job_id}", headers=auth(user_id))
    assert response.status_code == 204, response.get_json()


@pytest.mark.parametrize("outcome", ["completed", "failed", "queued"])
def test_deleting_the_last_headshot_of_an_upload_takes_its_original(client: Any,
                                                                    outcome: str) -> None:
    """Its originalImageUrl and beforeImageUrl stop serving, and the upload URL no longer
    starts a job (409 original_expired, nothing charged)."""
    tried("deletes")
    user_id = funded_user(3)
    key = stored_upload(user_id)
    job = make_job(user_id, key, outcome)
    shown = _headshot(client, user_id, job["id"])
    original, before = shown["originalImageUrl"], shown["beforeImageUrl"]
    assert original and before and _served(client, original) and _served(client, before)

    _delete(client, user_id, job["id"])
    assert not _served(client, original) and not _served(client, before)
    assert not get_storage().exists(key)
    before_state = footprint(user_id)
    assert_error(_generate(client, user_id, signed_url(key)), 409, "original_expired")
    assert_unchanged(before_state, footprint(user_id), "generate from a deleted original")


def test_the_original_stays_while_another_headshot_of_it_is_live(client: Any) -> None:
    tried("deletes")
    user_id = funded_user(4)
    key = stored_upload(user_id)
    first, second = make_job(user_id, key, "completed"), make_job(user_id, key, "failed")
    original = _headshot(client, user_id, second["id"])["originalImageUrl"]

    _delete(client, user_id, first["id"])
    shown = _headshot(client, user_id, second["id"])
    assert shown["originalImageUrl"] and _served(client, shown["originalImageUrl"])
    assert shown["beforeImageUrl"] and _served(client, shown["beforeImageUrl"])
    third = _generate(client, user_id, signed_url(key))  # the upload URL still works
    assert third.status_code == 202, third.get_json()

    _delete(client, user_id, second["id"])
    assert _served(client, original)  # the third still uses it
    _delete(client, user_id, third.get_json()["id"])
    assert not _served(client, original)


def test_other_uploads_are_untouched(client: Any) -> None:
    """Only the deleted headshot's own upload goes: not another one that has headshots, nor
    one no headshot was made from yet (the user may be about to use it)."""
    tried("deletes")
    user_id = funded_user(3)
    deleted_from, other, unused = (stored_upload(user_id) for _ in range(3))
    job = make_job(user_id, deleted_from, "completed")
    make_job(user_id, other, "completed")

    _delete(client, user_id, job["id"])
    assert not _served(client, signed_url(deleted_from))
    assert _served(client, signed_url(other)) and _served(client, signed_url(unused))


def test_delete_my_data_takes_every_original(client: Any) -> None:
    tried("deletes")
    user_id = funded_user(2)
    used, unused = stored_upload(user_id), stored_upload(user_id)
    job = make_job(user_id, used, "completed")
    before = _headshot(client, user_id, job["id"])["beforeImageUrl"]
    assert client.delete("/api/me", headers=auth(user_id)).status_code == 204
    for url in (signed_url(used), signed_url(unused), before):
        assert not _served(client, url)
    for key in (used, unused):
        assert_error(_generate(client, user_id, signed_url(key)), 409, "original_expired")


@pytest.mark.parametrize("trial", range(6))
def test_a_generate_racing_the_last_delete_either_keeps_the_original_or_is_refused(
        web: str, trial: int) -> None:
    """Deleting the last headshot of an upload while a generate from it is on its way: either
    the generate wins (202, and the original stays for its new job) or the delete does (409
    original_expired, nothing charged). Never a job left on a deleted original."""
    tried("deletes", 2)
    user_id = funded_user(2)
    key = stored_upload(user_id)
    job = make_job(user_id, key, "completed")
    headers = auth(user_id)

    def delete() -> requests.Response:
        return requests.delete(f"{web}/api/headshots/history/{job['id']}", headers=headers,
                               timeout=30)

    def generate() -> requests.Response:
        return requests.post(f"{web}/api/headshots/generate", headers=headers, timeout=30,
                             json={"imageUrl": signed_url(key), "style": "corporate"})

    with ThreadPoolExecutor(max_workers=2) as pool:
        deleted, generated = pool.submit(delete), pool.submit(generate)
        assert deleted.result().status_code == 204
        answer = generated.result()
    stored = get_storage().exists(key)
    if answer.status_code == 202:
        assert stored and _upload_available(key), "a new job was left on a deleted original"
    else:
        assert_error(answer, 409, "original_expired")
        assert not stored and not _upload_available(key)
        assert _balance(user_id) == 1  # only the first job was charged


def _upload_available(storage_key: str) -> bool:
    from models.uploads import Upload
    from services.unit_of_work import unit_of_work

    with unit_of_work() as db_session:
        upload = db_session.scalars(select(Upload).where(Upload.storage_key == storage_key)).one()
        return upload.available
