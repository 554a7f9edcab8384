"""`GET /admin` in a real headless Chromium (Debian's `chromium`, driven by Playwright): the page
signs in with an operator's JWT, draws its charts from rows this test made, lists the newest
failure, and a refund through the page moves the user's balance and lands in the audit log.

The browser is Debian's (`./run setup` installs it): Playwright's own download cannot reach its
host here. A machine without it fails this test, never skips it, so CI cannot pass unseen.
Screenshots go to the run's temp folder and to /tmp/dashboard-screens/ (printed; `pytest -s`).
"""

from __future__ import annotations

import random
import shutil
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select

from models.clock import frozen_clock
from models.events import EventName
from models.job.attempts import claim_job, complete_job
from models.job.creation import create_job
from models.job.endings import fail_job
from models.styles import get_active_style
from models.uploads import Upload
from services import analytics
from services.events import record_client_event, record_history_view
from services.unit_of_work import unit_of_work
from tests.support.browser import launched_chromium, watched_page
from tests.support.domain import funded_user, stored_upload
from tests.support.users import ADMIN, auth, make_token

pytestmark = pytest.mark.usefixtures("stack", "ledger_invariant")

REVIEW_COPY = Path("/tmp/dashboard-screens")
DAYS = 14
STYLES = {"corporate": 5, "creative": 3, "casual": 2, "model": 1}  # how often each is picked
HOURS = [8, 9, 9, 10, 12, 13, 14, 14, 17, 19, 20, 20, 21]  # a working-hours and evening peak
CANVASES = ("chart-trend", "chart-styles", "chart-daily", "chart-hours", "chart-funnel",
            "chart-cost")
EXTRA_PICKS = 2  # `casual` picked on the last day by a user who does not generate it


@dataclass(frozen=True)
class Made:
    id: int
    day: date
    hour: int
    style: str
    cost: int  # credits
    seconds: int | None  # None: it failed
    user: int


# ---- the rows --------------------------------------------------------------------------------


def _headshot(user_id: int, upload_key: str, style: str, at: datetime, seconds: int | None,
              code: str = "getimg_timeout") -> Made:
    """One headshot, its style picked in the app first, asked for and ended at `at` (the clock
    frozen there)."""
    with frozen_clock(at):
        record_client_event(user_id=user_id, name=EventName.STYLE_SELECTED, job_id=None,
                            properties={"style": style})
    with frozen_clock(at), unit_of_work() as db_session:
        upload = db_session.scalars(select(Upload).where(Upload.storage_key == upload_key)).one()
        job = create_job(db_session, user_id=user_id, upload=upload,
                                style=get_active_style(db_session, style), aspect_ratio="1:1")
        db_session.commit()
        claimed = claim_job(db_session, job.id)
        assert claimed is not None
        if seconds is None:
            done = fail_job(db_session, job.id, code=code, attempt=claimed.attempts,
                                   message="the generator gave up")
        else:
            done = complete_job(
                db_session, job.id, attempt=claimed.attempts, result_keys=[],
                thumbnail_key="thumbnails/1/" + "a" * 32 + ".jpg",
                metadata={"processingTime": seconds, "getimgCost": 0.025})
        assert done is not None
        db_session.commit()
        return Made(job.id, at.date(), at.hour, style, job.credit_cost, seconds, user_id)


@pytest.fixture(scope="module")
def history() -> dict[str, Any]:
    """Two weeks of headshots on days of 2019 no other test uses, rolled up as the nightly job
    would; the last one made is a failure with a code of its own."""
    rng = random.Random(2019)
    first = date(2019, rng.randint(1, 12), rng.randint(1, 14)) + timedelta(days=rng.randint(0, 9))
    users = [funded_user(200) for _ in range(3)]
    uploads = {user: stored_upload(user) for user in users}
    made: list[Made] = []
    for offset in range(DAYS):
        day = first + timedelta(days=offset)
        for _ in range(rng.randint(2, 7)):
            user = rng.choice(users)
            style = rng.choices(list(STYLES), weights=list(STYLES.values()))[0]
            at = datetime.combine(day, datetime.min.time(), UTC).replace(
                hour=rng.choice(HOURS), minute=rng.randint(0, 59))
            seconds = rng.randint(8, 40) if rng.random() < 0.8 else None
            made.append(_headshot(user, uploads[user], style, at, seconds))
    last_day = datetime.combine(first + timedelta(days=DAYS - 1), datetime.min.time(), UTC)
    target = _headshot(users[0], uploads[users[0]], "corporate", last_day.replace(hour=22), 15)
    newest_failure = _headshot(users[1], uploads[users[1]], "creative",
                               last_day.replace(hour=23), None, code="getimg_rejected")
    made += [target, newest_failure]
    with frozen_clock(last_day.replace(hour=12)):  # one user of three opens the history
        record_history_view(user_id=users[0])
        for _ in range(EXTRA_PICKS):
            record_client_event(user_id=users[2], name=EventName.STYLE_SELECTED, job_id=None,
                                properties={"style": "casual"})
    analytics.backfill(first, first + timedelta(days=DAYS - 1))
    return {"first": first, "last": first + timedelta(days=DAYS - 1), "made": made,
            "target": target, "target_user": users[0], "newest_failure": newest_failure}


# ---- the browser -----------------------------------------------------------------------------


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
    folder = tmp_path_factory.mktemp("dashboard-screens")
    shutil.rmtree(REVIEW_COPY, ignore_errors=True)
    REVIEW_COPY.mkdir(parents=True)
    return folder


def _screenshot(page: Any, screens: Path, name: str) -> None:
    path = screens / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    shutil.copy(path, REVIEW_COPY / path.name)
    print(f"screenshot: {path} (copy: {REVIEW_COPY / path.name})")


def _sign_in(page: Any, token: str) -> None:
    page.fill("#token", token)
    page.click("#sign-in-form button")


def _chart(page: Any, canvas: str) -> dict[str, Any]:
    data: dict[str, Any] = page.evaluate(
        """id => { const chart = Chart.getChart(document.getElementById(id));
                   return {labels: chart.data.labels,
                           datasets: chart.data.datasets.map(d => d.data)}; }""", canvas)
    return data


def _percentile(values: list[int], fraction: float) -> float:
    """PostgreSQL's percentile_cont: linear between the two nearest ranks."""
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


def _table(page: Any, table: str) -> list[list[str]]:
    rows: list[list[str]] = page.evaluate(
        """id => Array.from(document.getElementById(id).tBodies[0].rows,
                            row => Array.from(row.cells, cell => cell.textContent))""", table)
    return rows


def _colored_pixels(page: Any, canvas: str) -> int:
    """Pixels of a saturated colour: the bars and lines, not the grey axes and grid."""
    count: int = page.evaluate(
        """id => { const canvas = document.getElementById(id);
                   const pixels = canvas.getContext("2d")
                       .getImageData(0, 0, canvas.width, canvas.height).data;
                   let n = 0;
                   for (let i = 0; i < pixels.length; i += 4) {
                     const [r, g, b, a] = pixels.slice(i, i + 4);
                     if (a > 128 && Math.max(r, g, b) - Math.min(r, g, b) > 60) n++;
                   }
                   return n; }""", canvas)
    return count


# ---- the tests -------------------------------------------------------------------------------


def test_a_token_that_is_not_an_operators_gets_a_clear_message(
        web: str, page: Any, screens: Path) -> None:
    page.goto(f"{web}/admin")
    _screenshot(page, screens, "1-sign-in")
    _sign_in(page, make_token(funded_user(0)))
    page.wait_for_selector("#message.error")
    assert "not an operator's" in page.inner_text("#message")
    assert page.is_visible("#sign-in") and not page.is_visible("#dashboard")
    _screenshot(page, screens, "2-not-an-operator")

    _sign_in(page, make_token(1, role="admin", expires_in=-60))
    # Functions, not strings: the page's CSP forbids eval, and Playwright evals a string.
    page.wait_for_function("() => document.getElementById('message').textContent"
                           ".includes('refused')")
    assert page.evaluate("sessionStorage.length") == 0  # a refused token is not kept


def test_the_charts_draw_the_rows_and_a_refund_moves_the_balance(
        web: str, page: Any, screens: Path, history: dict[str, Any]) -> None:
    made: list[Made] = history["made"]
    first, last = history["first"].isoformat(), history["last"].isoformat()
    page.goto(f"{web}/admin")
    _sign_in(page, make_token(1, role="admin"))
    page.wait_for_selector("body[data-state=ready]")
    page.fill("#from", first)
    page.fill("#to", last)
    page.click("#range button")
    page.wait_for_function(
        "first => document.body.dataset.state === 'ready' && "
        "Chart.getChart(document.getElementById('chart-daily')).data.labels[0] === first",
        arg=first)
    assert page.url == f"{web}/admin"  # the token went into no URL (nor did the range)

    completed = [row for row in made if row.seconds is not None]
    styles = _chart(page, "chart-styles")
    assert dict(zip(styles["labels"], styles["datasets"][0], strict=True)) == \
        dict(Counter(row.style for row in completed))
    assert sum(styles["datasets"][1]) == len(made) - len(completed)

    days = [(history["first"] + timedelta(days=n)).isoformat() for n in range(DAYS)]
    by_day: dict[str, list[Made]] = defaultdict(list)
    for row in made:
        by_day[row.day.isoformat()].append(row)
    daily = _chart(page, "chart-daily")
    assert daily["labels"] == days
    for day, rate, seconds in zip(days, *daily["datasets"], strict=True):
        done = [row.seconds for row in by_day[day] if row.seconds is not None]
        assert rate == pytest.approx(100 * len(done) / len(by_day[day]), abs=0.051), day
        # The rollup keeps a whole-second average per style; the page weighs those.
        assert seconds == pytest.approx(sum(done) / len(done), abs=1) if done else None, day

    # The trend: headshots asked for and active users (here: who asked) per day.
    trend = _chart(page, "chart-trend")
    assert trend["labels"] == days
    assert trend["datasets"] == [[len(by_day[day]) for day in days],
                                 [len({row.user for row in by_day[day]}) for day in days]]
    assert sum(trend["datasets"][0]) == len(made) > 0
    users = len({row.user for row in made})
    assert page.inner_text("#kpi-active") == str(users) == "3"
    assert page.inner_text("#kpi-per-user") == f"{len(made) / users:.2f}"
    assert page.inner_text("#kpi-requests") == str(len(made))  # each a single generate
    seconds = [row.seconds for row in completed if row.seconds is not None]
    p50, p95 = (float(part.removesuffix(" s"))
                for part in page.inner_text("#kpi-percentiles").split(" / "))
    assert (p50, p95) == (pytest.approx(_percentile(seconds, 0.5), abs=0.051),
                          pytest.approx(_percentile(seconds, 0.95), abs=0.051))
    assert 8 <= p50 <= p95 <= 40
    failed_codes = Counter("getimg_rejected" if row is history["newest_failure"]
                           else "getimg_timeout" for row in made if row.seconds is None)
    assert {code: int(n) for code, n, _ in _table(page, "failure-codes")} == failed_codes
    picks = Counter(row.style for row in made) + Counter({"casual": EXTRA_PICKS})
    assert {style: (int(picked), int(generated)) for style, picked, _, generated, _
            in _table(page, "style-choice")} == {
        style: (picks[style], sum(row.style == style for row in made)) for style in picks}

    hours = _chart(page, "chart-hours")["datasets"][0]
    assert {hour: n for hour, n in enumerate(hours) if n} == dict(Counter(r.hour for r in made))
    assert _chart(page, "chart-funnel")["datasets"][0] == [len(made), len(completed), 0, 0]

    charged, refunded, usd = _chart(page, "chart-cost")["datasets"]
    assert charged == [sum(row.cost for row in by_day[day]) for day in days]
    assert refunded == [sum(r.cost for r in by_day[day] if r.seconds is None) for day in days]
    assert usd == pytest.approx([0.025 * sum(r.seconds is not None for r in by_day[day])
                                 for day in days])
    for canvas in CANVASES:
        assert _colored_pixels(page, canvas) > 500, f"{canvas} drew no data"
    report = requests.get(f"{web}/api/admin/analytics", params={"from": first, "to": last},
                          headers=ADMIN, timeout=10).json()
    for tile, rate in (("repeat", "repeatUserRate"), ("favorites", "favoriteUsageRate"),
                       ("history", "historyViewRate")):
        assert page.inner_text(f"#kpi-{tile}") == f"{100 * report[rate]:.1f} %", tile
    assert page.inner_text("#kpi-history") == "33.3 %"

    newest = history["newest_failure"]
    first_failure = page.locator("#failures tbody tr").first
    assert first_failure.locator("td").nth(0).inner_text() == f"#{newest.id}"
    assert "getimg_rejected" in first_failure.inner_text()
    _screenshot(page, screens, "3-dashboard")

    target: Made = history["target"]
    user = auth(history["target_user"])
    before = requests.get(f"{web}/api/me", headers=user, timeout=10).json()["credits"]
    page.fill("#refund-id", str(target.id))
    page.fill("#refund-reason", "blurry result, refunded from the dashboard test")
    page.click("#refund-form button")
    page.wait_for_selector("#refund-result.ok")
    assert f"balance is now {before + target.cost}" in page.inner_text("#refund-result")
    page.wait_for_selector("body[data-state=ready]")
    assert "blurry result" in page.locator("#audit tbody tr").first.inner_text()
    _screenshot(page, screens, "4-refunded")

    after = requests.get(f"{web}/api/me", headers=user, timeout=10).json()["credits"]
    assert after == before + target.cost
    audit = requests.get(f"{web}/api/admin/audit?limit=5", headers=ADMIN, timeout=10).json()
    assert {"action": "refund", "generationId": target.id, "userId": history["target_user"],
            "amount": target.cost, "reason": "blurry result, refunded from the dashboard test"
            }.items() <= audit["data"][0].items()

    page.fill("#refund-id", str(target.id))  # twice: the API's 409, said on the page
    page.fill("#refund-reason", "again")
    page.click("#refund-form button")
    page.wait_for_selector("#refund-result.error")
    assert "already_refunded" in page.inner_text("#refund-result")
