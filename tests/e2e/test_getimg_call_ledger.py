"""The call ledger through the real pipeline: the session's Celery worker calls the fake GetImg,
and every call it made is one `getimg_calls` row with what it is billed (docs/getimg.md "What a
call costs"): an answered call at the price GetImg reported, even when the job then fails
or retries; a refused or failed call at nothing. The fake's price at 1K is $0.03.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from fakes.getimg.process import FakeGetImg
from models.getimg_calls import GetImgCall
from services.unit_of_work import read_only
from tests.support.live import LiveServer

pytestmark = pytest.mark.usefixtures("worker", "ledger_invariant")


def _calls(job_id: int) -> list[tuple[int, str, bool, Decimal, str, str, str]]:
    with read_only() as db_session:
        return [(row.attempt, row.outcome, row.billed, row.cost, row.cost_basis,
                 row.resolution, row.style)
                for row in db_session.scalars(select(GetImgCall)
                                              .where(GetImgCall.generation_id == job_id)
                                              .order_by(GetImgCall.attempt, GetImgCall.id))]


def test_every_call_is_in_the_ledger_billed_or_not(web: str, fake_getimg: FakeGetImg) -> None:
    user = LiveServer(web).user(credits=3)
    # An unusable image (answered: billed), then a 500 (not billed), then the result.
    fake_getimg.configure(script=["badimage", "500", "ok"])
    retried = user.queue(style="creative")["id"]
    status, _ = user.wait_for_status(retried, timeout=60)
    assert status["status"] == "completed", status
    paid = (Decimal("0.0300"), "invoiced", "1K", "creative")
    assert _calls(retried) == [(1, "answered", True, *paid),
                               (2, "getimg_unavailable", False, Decimal("0.0000"), "none",
                                "1K", "creative"),
                               (3, "answered", True, *paid)]
    meta = user.call("GET", f"/api/headshots/history/{retried}").json()["metadata"]
    # The headshot's own metadata: the completing call's cost; the ledger: all of it ($0.06).
    assert (meta["getimgCost"], meta["attempts"]) == (0.03, 3)
    assert meta["queueTime"] > 0  # two attempts and their backoff before the third's claim

    fake_getimg.configure(script=["policy"])  # refused: failed, refunded, nothing billed
    refused = user.queue()["id"]
    status, _ = user.wait_for_status(refused, timeout=60)
    assert status["error"]["code"] == "content_policy_violation"
    assert _calls(refused) == [(1, "content_policy_violation", False, Decimal("0.0000"),
                                "none", "1K", "corporate")]
