"""The signed status stream (`statusStreamUrl`, §12) over the real gunicorn: the signature is
the only authorization, so every other one (tampered, expired, another job's or user's, a media
URL's) is the §3 404 before anything is read, and the owner's stream slots are the same ones
the bearer stream takes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from config import get_settings, use_settings
from services.redis_client import get_redis
from services.status_stream_urls import get_stream_signer, status_stream_url, stream_path
from services.stream_slots import user_key
from tests.support.domain import funded_user, make_job, signed_url, stored_upload
from tests.support.errors import assert_error
from tests.support.hostile import tried
from tests.support.sse import blocks
from tests.support.users import auth

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")

STREAMS_PER_USER = 5  # STREAM_MAX_PER_USER's default


def query(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def stream_url(base: str, job_id: int, fields: dict[str, str]) -> str:
    return f"{base}{stream_path(job_id)}?{urlencode(fields)}"


def polled(base: str, user_id: int, job_id: int) -> dict[str, object]:
    response = requests.get(f"{base}/api/headshots/status/{job_id}", headers=auth(user_id),
                            timeout=10)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def open_signed(url: str, **headers: str) -> requests.Response:
    tried("signed streams")
    return requests.get(url, headers=headers, stream=True, timeout=10)


def slots_held(user_id: int) -> int:
    held = get_redis().zcard(user_key(user_id))
    assert isinstance(held, int)
    return held


@pytest.fixture
def owner() -> dict[str, int]:
    user_id = funded_user(3)
    upload = stored_upload(user_id)
    return {"user_id": user_id, "queued": make_job(user_id, upload)["id"],
            "other": make_job(user_id, upload)["id"]}


def test_the_status_url_opens_the_stream_without_a_token(web: str,
                                                         owner: dict[str, int]) -> None:
    user_id, job_id = owner["user_id"], owner["queued"]
    status = polled(web, user_id, job_id)
    url = status["statusStreamUrl"]
    assert isinstance(url, str) and url.startswith(f"{web}{stream_path(job_id)}?")
    history = requests.get(f"{web}/api/headshots/history/{job_id}", headers=auth(user_id),
                           timeout=10).json()
    assert query(history["statusStreamUrl"])["user"] == str(user_id)
    with open_signed(url) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        received = blocks(response)
        first = next(received)
        assert first.fields == {"retry": "2000"}  # before anything else
        event = next(received)
        assert event.is_status and event.id > 0
        data = event.data()
        assert {key: data[key] for key in ("id", "status", "progress")} == \
            {"id": job_id, "status": "queued", "progress": 0}
        assert query(data["statusStreamUrl"])["user"] == str(user_id)  # a fresh one to keep
        assert slots_held(user_id) == 1  # the owner's slot, as a bearer stream's


def test_any_other_signature_is_the_same_404_and_takes_no_slot(
        web: str, owner: dict[str, int], victim: dict[str, object]) -> None:
    """The owner's slots are all held (so a refusal that came after taking one would be a
    429); each forgery is a 404, and the slots held stay as they were."""
    user_id, job_id = owner["user_id"], owner["queued"]
    good = query(str(polled(web, user_id, job_id)["statusStreamUrl"]))
    other_job = query(str(polled(web, user_id, owner["other"])["statusStreamUrl"]))
    held = [open_signed(stream_url(web, job_id, good)) for _ in range(3)]
    held += [requests.get(f"{web}/api/headshots/status/{job_id}/stream", headers=auth(user_id),
                          stream=True, timeout=10) for _ in range(2)]
    try:
        assert [response.status_code for response in held] == [200] * STREAMS_PER_USER
        assert slots_held(user_id) == STREAMS_PER_USER
        signer = get_stream_signer()
        expired = query(signer.url(user_id, job_id, now=time.time() - 7300))  # past its hour
        too_far = query(signer.url(user_id, job_id, now=time.time() + 7200))
        image = query(signed_url(str(victim["upload_key"])))
        victim_job = victim["queued"]
        assert isinstance(victim_job, dict)
        forgeries = {
            "tampered": {**good, "sig": good["sig"][:-1] + ("A" if good["sig"][-1] != "A"
                                                            else "B")},
            "expired": expired,
            "issued too far ahead": too_far,
            "another job's": other_job,
            "another user named": {**good, "user": str(victim["user_id"])},
            "a media URL's": {"user": str(user_id), "exp": image["exp"], "sig": image["sig"]},
            "no signature": {"user": str(user_id), "exp": good["exp"]},
            "nothing": {},
            "a longer expiry": {**good, "exp": str(int(good["exp"]) + 60)},
        }
        for name, fields in forgeries.items():
            assert_error(open_signed(stream_url(web, job_id, fields)), 404, "not_found",
                         context=name)
        # The owner's own signature on another user's job (path) is no way into it either.
        assert_error(open_signed(stream_url(web, int(victim_job["id"]), good)), 404,
                     "not_found")
        # A bearer token is no signature.
        assert_error(open_signed(stream_url(web, job_id, {}), **auth(user_id)), 404,
                     "not_found")
        assert slots_held(user_id) == STREAMS_PER_USER
        # And the good URL, one stream too many: the slots are the bearer stream's.
        assert_error(open_signed(stream_url(web, job_id, good)), 429, "too_many_streams")
    finally:
        for response in held:
            response.close()


def test_a_stream_signature_opens_no_image(web: str, owner: dict[str, int]) -> None:
    user_id, job_id = owner["user_id"], owner["queued"]
    good = query(str(polled(web, user_id, job_id)["statusStreamUrl"]))
    key = stored_upload(user_id)
    assert requests.get(signed_url(key), timeout=10).status_code == 200
    tried("signed streams")
    answer = requests.get(f"{web}/media/{key}?exp={good['exp']}&sig={good['sig']}", timeout=10)
    assert_error(answer, 404, "not_found")


@pytest.mark.parametrize("last_event_id", ["abc", "-1", "1" * 21, "1.5", "0x10", "1 2"])
def test_a_malformed_last_event_id_is_a_400(web: str, owner: dict[str, int],
                                            last_event_id: str) -> None:
    user_id, job_id = owner["user_id"], owner["queued"]
    url = str(polled(web, user_id, job_id)["statusStreamUrl"])
    answer = open_signed(url, **{"Last-Event-ID": last_event_id})
    assert_error(answer, 400, "invalid_request", field="Last-Event-ID")
    bearer = requests.get(f"{web}/api/headshots/status/{job_id}/stream",
                          headers={**auth(user_id), "Last-Event-ID": last_event_id}, timeout=10)
    assert_error(bearer, 400, "invalid_request", field="Last-Event-ID")
    assert slots_held(user_id) == 0



@pytest.fixture
def status_budget_of_four() -> Iterator[int]:
    original = get_settings()
    use_settings(original.model_copy(update={"rate_limit_status_per_minute": 4}))
    yield 4
    use_settings(original)


def test_both_forms_spend_the_owners_one_status_budget(client: Any,
                                                        status_budget_of_four: int) -> None:
    """In-process, with a budget of 4 status reads a minute: polls and streams, bearer and
    signed, count against the same one; past it the signed stream is the same 429."""
    if time.time() % 60 > 50:  # the count starts over with each clock minute
        time.sleep(61 - time.time() % 60)
    user_id = funded_user(1)
    job_id = int(make_job(user_id, stored_upload(user_id))["id"])
    parts = urlsplit(status_stream_url(user_id, job_id))
    signed = f"{parts.path}?{parts.query}"
    bearer = auth(user_id)
    reads = [lambda: client.get(f"/api/headshots/status/{job_id}", headers=bearer),
             lambda: client.get(signed, buffered=False),
             lambda: client.get(f"/api/headshots/status/{job_id}/stream", headers=bearer,
                                buffered=False),
             lambda: client.get(signed, buffered=False)]
    for read in reads:
        answer = read()
        assert answer.status_code == 200
        answer.close()  # the stream ends: its slot is free
    tried("signed streams")
    limited = client.get(signed)
    assert_error(limited, 429, "rate_limited")
    assert 0 < int(limited.headers["Retry-After"]) <= 60
    assert_error(client.get(f"/api/headshots/status/{job_id}", headers=bearer), 429,
                 "rate_limited")
    assert slots_held(user_id) == 0
