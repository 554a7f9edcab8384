"""The dashboard's "Flags" view (§14) in a real headless Chromium (Debian's, driven by
Playwright, as tests/e2e/test_admin_dashboard.py): an operator switches `export` off in the
page and the user's export answers 403 feature_disabled, switches it back on and it answers
200; a percentage and an allow-list set in the page decide who has `share`.

Screenshots go to the run's temp folder and to /tmp/flags-screens/ (printed; `pytest -s`).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.browser import launched_chromium, watched_page
from tests.support.domain import funded_user, make_job, stored_upload
from tests.support.flags import reset_flags
from tests.support.users import auth, make_token, new_user_id

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")

REVIEW_COPY = Path("/tmp/flags-screens")
DEADLINE_SECONDS = 20.0


@pytest.fixture(autouse=True)
def _flags_back_to_defaults() -> Iterator[None]:
    reset_flags()
    yield
    reset_flags()


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
    folder = tmp_path_factory.mktemp("flags-screens")
    shutil.rmtree(REVIEW_COPY, ignore_errors=True)
    REVIEW_COPY.mkdir(parents=True)
    return folder


def _screenshot(page: Any, screens: Path, name: str, *, whole_page: bool = False) -> None:
    path = screens / f"{name}.png"
    if whole_page:
        page.screenshot(path=str(path), full_page=True)
    else:
        page.locator("#flags").screenshot(path=str(path))
    shutil.copy(path, REVIEW_COPY / path.name)
    print(f"screenshot: {path} (copy: {REVIEW_COPY / path.name})")


def _signed_in(page: Any, web: str) -> None:
    page.goto(f"{web}/admin")
    page.fill("#token", make_token(new_user_id(), role="admin"))
    page.click("#sign-in-form button")
    page.wait_for_function("() => document.body.dataset.flags === 'ready'")


def _saved(page: Any, text: str) -> None:
    page.wait_for_function(
        "text => document.body.dataset.flags === 'ready' && "
        "document.getElementById('flags-result').textContent.includes(text)", arg=text)


def _until(check: Any, what: str) -> None:
    started = time.monotonic()
    while time.monotonic() - started < DEADLINE_SECONDS:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {DEADLINE_SECONDS} s: {what}")


def _export(web: str, user_id: int, job_id: int) -> requests.Response:
    return requests.get(f"{web}/api/headshots/{job_id}/export", headers=auth(user_id),
                        timeout=10)


def _is_feature_disabled(answer: requests.Response) -> bool:
    return answer.status_code == 403 and answer.json()["error"]["code"] == "feature_disabled"


def test_switching_export_off_in_the_page_refuses_the_users_export_then_back(
        web: str, page: Any, screens: Path) -> None:
    user_id = funded_user(1)
    job_id = make_job(user_id, stored_upload(user_id), "completed")["id"]
    assert _export(web, user_id, job_id).status_code == 200
    _signed_in(page, web)
    row = page.locator('tr[data-flag="export"]')
    assert row.locator("input.flag-enabled").is_checked()
    assert "never set" in row.locator("td.flag-changed").inner_text()
    names = page.eval_on_selector_all("#flags-table tbody tr",
                                      "rows => rows.map(r => r.dataset.flag)")
    assert names[:4] == ["batch", "export", "share", "push"] and "style:corporate" in names
    _screenshot(page, screens, "1-flags-untouched")
    _screenshot(page, screens, "0-dashboard", whole_page=True)

    row.locator("input.flag-enabled").uncheck()
    _saved(page, "export is now off")
    assert not page.locator('tr[data-flag="export"] input.flag-enabled').is_checked()
    _until(lambda: _is_feature_disabled(_export(web, user_id, job_id)),
           "the export refused with 403 feature_disabled")
    message = _export(web, user_id, job_id).json()["error"]["message"]
    assert "export" in message
    _screenshot(page, screens, "2-export-off")

    page.locator('tr[data-flag="export"] input.flag-enabled').check()
    _saved(page, "export is now on")
    _until(lambda: _export(web, user_id, job_id).status_code == 200, "the export back")


def test_a_percentage_and_an_allow_list_set_in_the_page_decide_who_has_share(
        web: str, page: Any, screens: Path) -> None:
    listed, other = new_user_id(), new_user_id()
    _signed_in(page, web)
    row = page.locator('tr[data-flag="share"]')
    row.locator("input.flag-percentage").fill("0")
    row.locator("input.flag-users").fill(f"{listed}, 7")
    row.locator("button.flag-save").click()
    _saved(page, "share is now on for 0 % of users and 2 listed user(s)")
    row = page.locator('tr[data-flag="share"]')
    assert row.locator("input.flag-users").input_value() == ", ".join(sorted([str(listed), "7"],
                                                                          key=int))
    assert row.locator("input.flag-percentage").input_value() == "0"

    def share_for(user_id: int) -> bool:
        me = requests.get(f"{web}/api/me", headers=auth(user_id), timeout=10).json()
        return bool(me["features"]["share"])

    _until(lambda: share_for(listed) and not share_for(other),
           "share on for the listed user only")
    # A bad allow-list is refused by the API, its message shown; the flag stays as it was.
    row.locator("input.flag-users").fill("12, bob")
    row.locator("button.flag-save").click()
    _saved(page, "share not saved (400 invalid_request) users.1")
    _screenshot(page, screens, "3-share-allow-list")
    flags = requests.get(f"{web}/api/admin/flags", timeout=10,
                         headers=auth(new_user_id(), role="admin")).json()["data"]
    share = next(flag for flag in flags if flag["name"] == "share")
    assert (share["enabled"], share["percentage"], share["users"]) == \
        (True, 0, sorted([7, listed]))
