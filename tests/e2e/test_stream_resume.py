"""Resuming a status stream (§6, §12) over the real gunicorn: `retry:` first, `id:` on every
event growing with each change, and a reconnect's `Last-Event-ID` answered with what the client
has not seen, never again what it has; the final event exactly once, then `204`.

The test moves the job itself (claim, then complete, committed as a worker would), so it knows
what each event must be.
"""

from __future__ import annotations

import pytest
import requests
from jsonschema import Draft202012Validator, FormatChecker

from media import get_storage
from media.storage import new_key
from models.job.attempts import claim_job, complete_job
from services.unit_of_work import unit_of_work
from tests.support.assets import SELFIE
from tests.support.domain import funded_user, make_job, stored_upload
from tests.support.sse import Block, blocks, status_events
from tests.support.users import auth

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")


def status_url(web: str, user_id: int, job_id: int) -> str:
    response = requests.get(f"{web}/api/headshots/status/{job_id}", headers=auth(user_id),
                            timeout=10)
    assert response.status_code == 200, response.text
    url: str = response.json()["statusStreamUrl"]
    return url


def opened(url: str, last_event_id: int | None = None, *, read_timeout: float = 10,
           headers: dict[str, str] | None = None) -> requests.Response:
    headers = dict(headers or {})
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    return requests.get(url, headers=headers, stream=True, timeout=(10, read_timeout))


def claim(job_id: int) -> int:
    with unit_of_work() as db_session:
        claimed = claim_job(db_session, job_id)
        assert claimed is not None
        db_session.commit()  # the after-commit path publishes `processing`
        return claimed.attempts


def complete(user_id: int, job_id: int, attempt: int) -> None:
    result, thumbnail = new_key("results", user_id, "jpg", 0), new_key("thumbnails", user_id,
                                                                       "jpg")
    for key in (result, thumbnail):
        get_storage().put(key, SELFIE.read_bytes(), "image/jpeg")
    with unit_of_work() as db_session:
        done = complete_job(db_session, job_id, attempt=attempt, result_keys=[result],
                            thumbnail_key=thumbnail, metadata={})
        assert done is not None
        db_session.commit()


def statuses(events: list[Block]) -> list[str]:
    return [str(event.data()["status"]) for event in events]


def assert_documented(web: str, events: list[Block]) -> None:
    """Each event's data is the status object the OpenAPI document describes (HeadshotStatus:
    closed, every field required). The document can only call the stream text, so schemathesis
    leaves this to here."""
    document = requests.get(f"{web}/openapi.json", timeout=10).json()
    validator = Draft202012Validator(
        {"$ref": "#/components/schemas/HeadshotStatus", "components": document["components"]},
        format_checker=FormatChecker())
    for event in events:
        problems = [error.message for error in validator.iter_errors(event.data())]
        assert not problems, (event.fields, problems)


def assert_ids_grow(events: list[Block]) -> None:
    """Never back; the same id only while the state (not its estimate) stays the same."""
    for earlier, later in zip(events, events[1:], strict=False):
        assert later.id >= earlier.id, [(e.id, e.data()["status"]) for e in events]
        if later.data()["status"] != earlier.data()["status"]:
            assert later.id > earlier.id


def test_a_reconnect_resumes_after_its_last_event_without_a_duplicate(web: str) -> None:
    user_id = funded_user(1)
    job_id = int(make_job(user_id, stored_upload(user_id))["id"])
    url = status_url(web, user_id, job_id)

    with opened(url) as first:
        received = blocks(first)
        assert next(received).fields == {"retry": "2000"}
        queued = next(received)
        assert queued.is_status and queued.data()["status"] == "queued"
    # The client went away after `queued`; it comes back with its id, and the job moves on.
    with opened(url, queued.id) as second:
        received = blocks(second)
        assert next(received).fields == {"retry": "2000"}
        attempt = claim(job_id)
        events: list[Block] = []
        for block in received:
            if not block.is_status:
                continue
            events.append(block)
            if block.data()["status"] == "processing" and len(events) == 3:
                complete(user_id, job_id, attempt)  # a few estimates in: the end
        # The server closed the stream after the final event.
    assert statuses(events)[0] == "processing", "the queued state was sent again"
    assert statuses(events)[-1] == "completed" and statuses(events).count("completed") == 1
    assert set(statuses(events)) == {"processing", "completed"}
    assert events[0].id > queued.id
    assert_ids_grow([queued, *events])
    assert_documented(web, [queued, *events])
    progress = [int(event.data()["progress"]) for event in events]
    assert progress == sorted(progress) and len(set(progress)) == len(progress)
    final = events[-1]
    assert final.data()["resultUrls"]

    # Back with the final event's id: nothing more will come, and a 204 says so (an
    # EventSource stops reconnecting), on both forms of the stream.
    ended = opened(url, final.id)
    assert ended.status_code == 204 and ended.content == b""
    bearer = opened(f"{web}/api/headshots/status/{job_id}/stream", final.id,
                    headers=auth(user_id))
    assert bearer.status_code == 204
    # Back with an older id (it missed the end): the final state, once, then the end.
    for last_seen in (events[0].id, None):
        with opened(url, last_seen) as late:
            assert late.status_code == 200
            missed = list(status_events(late))
        assert statuses(missed) == ["completed"] and missed[0].id == final.id


def test_a_reconnect_to_a_waiting_job_sends_only_what_changed(web: str) -> None:
    """Back with the id of the state the job is still in: nothing is sent until it changes
    (the first keep-alive comes after 15 s)."""
    user_id = funded_user(1)
    job_id = int(make_job(user_id, stored_upload(user_id))["id"])
    url = status_url(web, user_id, job_id)
    with opened(url) as first:
        queued = next(status_events(first))
    with opened(url, queued.id, read_timeout=3) as second:
        received = blocks(second)
        assert next(received).fields == {"retry": "2000"}
        with pytest.raises(requests.exceptions.ConnectionError, match="timed out"):
            next(received)
    with opened(url, queued.id - 1) as third:  # an older id: the state now, at once
        assert next(status_events(third)).id == queued.id
