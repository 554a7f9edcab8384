"""The dashboard's Support view (§14) in a real headless Chromium (Debian's `chromium`, driven by
Playwright), answering a ticket from the page alone: "my credits went missing". The operator
finds the user by email, sees the balance, the failed headshot with its error and its refund,
the ledger line that gave the credits back, and the phone its notice went to with the push
delivery's state; a search that finds nobody says so. Every look
is in the audit log.

As in test_admin_dashboard.py, a machine without the browser fails this test, never skips it.
Screenshots go to the run's temp folder and to /tmp/support-screens/ (printed; `pytest -s`).
"""

from __future__ import annotations

import secrets
import shutil
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from models.devices import Platform, register_device
from models.outbox import Channel, EventType, OutboxEvent, add_event, mark_failed_attempt
from models.users import ensure_user
from services import sharing
from services.unit_of_work import unit_of_work
from tests.support.browser import launched_chromium, watched_page
from tests.support.domain import funded_user, make_job, stored_upload
from tests.support.users import auth, make_token, new_user_id

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")

REVIEW_COPY = Path("/tmp/support-screens")
# Operators of this test's own: the admin budget (120 a minute) is per operator, and other
# tests' admin traffic (schemathesis, the hostile walks) must not have spent it. The page's
# operator is the one whose looks are audited; the test checks the page with another's reads.
OPERATOR = new_user_id()
CHECKER_HEADERS = auth(new_user_id(), role="admin")


@pytest.fixture(scope="module")
def ticket() -> dict[str, Any]:
    """A user who paid for two headshots: one came out, one failed and was refunded."""
    email = f"Jane.Doe.{uuid.uuid4().hex[:8]}@example.com"
    user_id = funded_user(10)
    with unit_of_work() as db_session:
        ensure_user(db_session, user_id=user_id, email=email)
        db_session.commit()
    key = stored_upload(user_id)
    done = make_job(user_id, key, "completed")["id"]
    failed = make_job(user_id, key, "failed")["id"]
    sharing.share(user_id=user_id, job_id=done, lifetime_hours=48)
    token = secrets.token_hex(32)
    with unit_of_work() as db_session:
        # Her phone, and the failure's notice to it, which APNs refused for good.
        phone = register_device(db_session, user_id=user_id, platform=Platform.IOS,
                                address=token).device.id
        notice = add_event(db_session, EventType.HEADSHOT_FAILED, user_id=user_id,
                           generation_id=failed, channel=Channel.PUSH, device_id=phone)
        row = db_session.get(OutboxEvent, notice)
        assert row is not None
        mark_failed_attempt(db_session, row, retry_in=timedelta(0),
                            error="HTTP 400: BadDeviceToken", give_up=True)
        db_session.commit()
    return {"email": email, "user_id": user_id, "done": done, "failed": failed,
            "phone": phone, "token": token, "notice": notice}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launched_chromium() as browser:
        yield browser


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    # No script error, nothing the CSP refused.
    with watched_page(browser.new_context(viewport={"width": 1440, "height": 900})) as page:
        yield page


@pytest.fixture(scope="module")
def screens(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("support-screens")
    shutil.rmtree(REVIEW_COPY, ignore_errors=True)
    REVIEW_COPY.mkdir(parents=True)
    return folder


def _screenshot(target: Any, screens: Path, name: str) -> None:
    """`target`: the page (all of it) or one element of it."""
    path = screens / f"{name}.png"
    if hasattr(target, "goto"):
        target.screenshot(path=str(path), full_page=True)
    else:
        target.screenshot(path=str(path))
    shutil.copy(path, REVIEW_COPY / path.name)
    print(f"screenshot: {path} (copy: {REVIEW_COPY / path.name})")


def _find(page: Any, query: str) -> None:
    page.fill("#support-query", query)
    page.click("#support-form button")
    page.wait_for_function("() => ['ready', 'error'].includes("
                           "document.getElementById('support').dataset.state)")


def test_a_ticket_is_answered_from_the_support_view(
        web: str, page: Any, screens: Path, ticket: dict[str, Any]) -> None:
    page.goto(f"{web}/admin")
    page.fill("#token", make_token(OPERATOR, role="admin"))
    page.click("#sign-in-form button")
    page.wait_for_selector("body[data-state=ready]")

    _find(page, ticket["email"].upper())  # as the customer typed it in the ticket

    assert page.get_attribute("#support", "data-state") == "ready"
    assert page.url == f"{web}/admin"  # the email went into no URL of the page
    me = requests.get(f"{web}/api/admin/users/{ticket['user_id']}", headers=CHECKER_HEADERS,
                      timeout=10).json()
    cost = me["headshots"]["data"][0]["creditCost"]
    assert page.inner_text("#support-user") == f"#{ticket['user_id']}"
    assert page.inner_text("#support-email") == ticket["email"]
    assert page.inner_text("#support-balance") == f"{10 - cost} credits"
    assert page.inner_text("#support-moved") == f"{2 * cost} / {cost}"

    # The failed headshot: its error, and its credits back.
    failed_row = page.locator(f"#support-headshots tr[data-id='{ticket['failed']}']")
    assert failed_row.get_attribute("class") == "failed"
    failed_text = failed_row.inner_text()
    assert "getimg_rejected: the generator refused the photo" in failed_text
    assert f"{cost} refunded" in failed_text
    done_row = page.locator(f"#support-headshots tr[data-id='{ticket['done']}']")
    assert "completed" in done_row.inner_text() and "refunded" not in done_row.inner_text()

    # The ledger, newest first: the refund names the headshot it gave the credits back for.
    ledger = page.locator("#support-ledger tbody tr")
    assert ledger.count() == 4
    refund = ledger.nth(0).locator("td")
    assert refund.nth(1).inner_text() == "refund"
    assert refund.nth(2).inner_text() == f"+{cost}"
    assert refund.nth(3).inner_text() == str(10 - cost)
    assert refund.nth(4).inner_text() == f"#{ticket['failed']} corporate (failed)"
    assert ledger.nth(1).locator("td").nth(2).inner_text() == f"-{cost}"
    assert ledger.nth(3).locator("td").nth(1).inner_text() == "grant"

    assert page.locator("#support-shares tbody tr").count() == 1
    assert f"#{ticket['done']}" in page.inner_text("#support-shares")
    assert "headshot_started" in page.inner_text("#support-events")
    assert "headshot.failed" in page.inner_text("#support-deliveries")

    # Her phone, and the failed headshot's notice to it: refused by APNs, with its answer.
    phone = page.locator(f"#support-devices tr[data-id='{ticket['phone']}'] td")
    assert [phone.nth(n).inner_text() for n in (0, 1)] == [f"#{ticket['phone']}", "ios"]
    assert page.inner_text("#support-devices-note") == "(1)"
    notice = page.locator(f"#support-push tr[data-id='{ticket['notice']}'] td")
    assert [notice.nth(n).inner_text() for n in range(1, 6)] == [
        "headshot.failed", f"#{ticket['phone']} ios", "gave_up", "0",
        "HTTP 400: BadDeviceToken"]
    assert ticket["token"] not in page.content()  # the page never had the device's token
    _screenshot(page.locator("#support"), screens, "1-support-view")
    _screenshot(page, screens, "2-support-full-page")

    _find(page, f"nobody.{uuid.uuid4().hex[:8]}@example.com")
    assert page.get_attribute("#support", "data-state") == "error"
    assert page.inner_text("#support-status").startswith("Nobody found")
    assert page.is_hidden("#support-file")
    _find(page, "12x")  # neither an id nor an email: the page says so and asks nothing
    assert page.inner_text("#support-status") == \
        "Enter a user id (digits) or a whole email address."
    _find(page, "jane@@example.com")  # an email to the page, not to the API: its 400, shown
    assert "400 invalid_request): email:" in page.inner_text("#support-status")
    _screenshot(page.locator("#support"), screens, "3-support-nobody")

    # Two looks audited, newest first: the search that missed, the find; the refused ones read
    # nothing and are not there.
    audit = requests.get(f"{web}/api/admin/audit?limit=10", headers=CHECKER_HEADERS,
                         timeout=10).json()
    looks = [(entry["action"], entry["userId"], entry["reason"].split("=")[0])
             for entry in audit["data"] if entry["operatorId"] == OPERATOR]
    assert looks == [("view_user", None, "support lookup: email"),
                     ("view_user", ticket["user_id"], "support lookup: email")]
