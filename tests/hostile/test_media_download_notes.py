"""The media route notes a result's download (§7, docs/analytics.md "Downloads"): hostile
fetches of a result image note nothing. A wrong or borrowed signature, another key's signature,
a flood of refetches, a HEAD or a range past the first byte: the §3 404 where refused, and at
most one `headshot_downloaded` a headshot and day in any case.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from models.events import Event, EventName
from services.unit_of_work import read_only
from tests.support.domain import funded_user, make_job, signed_url, stored_upload
from tests.support.errors import assert_error

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")


def _notes(user_id: int) -> int:
    with read_only() as db_session:
        return int(db_session.scalar(select(func.count()).select_from(Event).where(
            Event.user_id == user_id, Event.name == EventName.HEADSHOT_DOWNLOADED.value,
            Event.source == "service")) or 0)


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_refused_and_repeated_fetches_note_at_most_one_download(client: Any) -> None:
    user_id = funded_user(2)
    made = make_job(user_id, stored_upload(user_id), "completed")
    other = make_job(user_id, stored_upload(user_id), "completed")
    good = _path(signed_url(made["result"]))
    exp_sig = urlsplit(signed_url(other["result"])).query  # another result's signature
    path = urlsplit(good).path
    for refused in (f"{path}?{exp_sig}", f"{path}?exp=9999999999&sig=" + "0" * 64, path,
                    f"{path}?exp=1&sig=x", good.replace(made["result"], made["thumbnail"])):
        assert_error(client.get(refused), 404)
    assert client.get(good, headers={"Range": "bytes=10-20"}).status_code == 206
    assert client.head(good).status_code == 200
    assert _notes(user_id) == 0  # neither a refusal nor a later range is a download
    for _ in range(25):  # a flood of refetches of the same result
        response = client.get(good)
        assert response.status_code == 200
        response.close()
    assert _notes(user_id) == 1
