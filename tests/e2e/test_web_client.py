"""`/app`, the reference web client, in a real headless Chromium (Debian's `chromium`, driven by
Playwright) on the real stack: gunicorn, a Celery worker, Redis, PostgreSQL and the fake GetImg.

A person signs in with a token, uploads the sample selfie, generates, watches the percentage
move, sees the result, favorites, compares before/after with the slider, shares, exports, makes
a batch of two styles (side by side, ZIP), cancels, retries a failed one, deletes one and
deletes their data; at phone width (390x844) and on a desktop. Every screen is checked with
axe-core (vendored for the tests only: tests/support/axe/, scripts/vendor-axe.sh) and must
have no violation at all, and every screen is kept as a screenshot in
var/test-artifacts/app-screens/ (paths printed; `pytest -s`).

The browser is Debian's (`./run setup` installs it): Playwright's own download cannot reach its
host here. A machine without it fails these tests, never skips them.
"""

from __future__ import annotations

import base64
import json
import shutil
import time
import zipfile
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest
import requests
from PIL import Image

from devstack.processes import REPO_ROOT
from devstack.waiting import wait_until
from fakes.getimg.process import FakeGetImg
from tests.support.assets import SELFIE
from tests.support.browser import launched_chromium
from tests.support.domain import funded_user, make_job, stored_upload
from tests.support.live import LiveServer, LiveUser
from tests.support.push import PushFakes
from tests.support.users import make_token, new_user_id

pytestmark = pytest.mark.usefixtures("worker", "ledger_invariant")

AXE = REPO_ROOT / "tests" / "support" / "axe" / "axe.min.js"
SCREENS = REPO_ROOT / "var" / "test-artifacts" / "app-screens"
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2,
         "is_mobile": True, "has_touch": True}
DESKTOP = {"viewport": {"width": 1280, "height": 860}}
# Long enough for the status to be read several times while GetImg "works".
GETIMG_LATENCY_MS = 4_000
PAGE = 20  # the client's page of My Headshots


# ---- the browser -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    shutil.rmtree(SCREENS, ignore_errors=True)  # this run's screens only
    SCREENS.mkdir(parents=True)
    with launched_chromium() as browser:
        yield browser


def _open(browser: Any, size: dict[str, Any]) -> tuple[Any, Any, list[str]]:
    context = browser.new_context(**size, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda message: problems.append(message.text)
            if "Content Security Policy" in message.text else None)
    return context, page, problems


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    context, page, problems = _open(browser, PHONE)
    yield page
    context.close()
    assert problems == [], problems  # no script error, nothing the CSP refused


@pytest.fixture
def desktop(browser: Any) -> Iterator[Any]:
    context, page, problems = _open(browser, DESKTOP)
    yield page
    context.close()
    assert problems == [], problems


# ---- what a person does and sees ---------------------------------------------------------------


def _screen(page: Any, name: str) -> None:
    """Waits until the screen `name` has loaded its data."""
    page.wait_for_selector(f"body[data-screen={name}][data-state=ready]")


def _check(page: Any, shot: str) -> None:
    """Screenshot of the screen as it is, then axe-core over it: no violation of any impact."""
    page.wait_for_function("() => Array.from(document.images).every(i => i.complete)")
    path = SCREENS / f"{shot}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    # Through the DevTools protocol, which the page's CSP does not govern: the page itself
    # loads nothing of axe.
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text() + "\n;undefined")
    violations = page.evaluate("""async () => {
        const result = await axe.run(document, {resultTypes: ["violations"]});
        return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map(n => n.target.join(" ")).slice(0, 5)}));
    }""")
    assert violations == [], f"{shot}: {violations}"


def _sign_in(page: Any, web: str, user: LiveUser) -> None:
    page.goto(f"{web}/app")
    _screen(page, "sign-in")
    page.fill("#token", make_token(user.user_id))
    page.click("#sign-in-form button")
    _screen(page, "new")
    assert "token" not in page.url and make_token(user.user_id) not in page.url


def _start(page: Any, styles: list[str], aspect_ratio: str = "1:1") -> None:
    """On the new-headshot screen: the selfie, the styles, the shape, Generate."""
    page.goto(page.url.split("#")[0] + "#/new")
    _screen(page, "new")
    page.set_input_files("#selfie", str(SELFIE))
    for box in page.query_selector_all("#styles input"):
        box.set_checked(box.get_attribute("value") in styles)
    page.select_option("#aspect-ratio", aspect_ratio)
    page.click("#generate")
    _screen(page, "progress")


def _follow(page: Any, rows: int, on_the_way: Callable[[], None] | None = None,
            timeout: float = 60) -> list[list[int]]:
    """Watches the progress rows until each has ended; every percentage each row showed."""
    page.wait_for_function("n => document.querySelectorAll('.progress-row').length === n",
                           arg=rows)
    seen: list[list[int]] = [[] for _ in range(rows)]
    called = False

    def ended() -> bool:
        nonlocal called
        states = page.eval_on_selector_all(
            ".progress-row", "rows => rows.map(r => [r.dataset.status, +r.dataset.progress])")
        for index, (_, progress) in enumerate(states):
            if not seen[index] or seen[index][-1] != progress:
                seen[index].append(progress)
        if on_the_way and not called and any(0 < p < 100 for _, p in states):
            called = True
            on_the_way()
        return all(status in ("completed", "failed") for status, _ in states)

    wait_until(ended, timeout=timeout, interval=0.1, message="the progress rows to end")
    return seen


def _swipe(page: Any, selector: str, start: float, end: float) -> None:
    """A finger's swipe across the element, from `start` to `end` of its width: touch events
    through the DevTools protocol (Playwright's touchscreen only taps)."""
    page.locator(selector).scroll_into_view_if_needed()
    box = page.locator(selector).bounding_box()
    y = box["y"] + box["height"] / 2
    xs = [box["x"] + box["width"] * (start + (end - start) * step / 8) for step in range(9)]
    cdp = page.context.new_cdp_session(page)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart",
                                          "touchPoints": [{"x": xs[0], "y": y}]})
    for x in xs[1:]:
        cdp.send("Input.dispatchTouchEvent",
                 {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def _drag(page: Any, selector: str, start: float, end: float) -> None:
    """The mouse pressed at `start` of the element's width and moved to `end`."""
    page.locator(selector).scroll_into_view_if_needed()
    box = page.locator(selector).bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * start, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * end, y, steps=8)
    page.mouse.up()


def _api_headshot(user: LiveUser, headshot_id: int) -> dict[str, Any]:
    response = user.call("GET", f"/api/headshots/history/{headshot_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _confirm(page: Any) -> None:
    page.wait_for_selector("#confirm[open]")
    page.click("#confirm-yes")


# ---- the tests -------------------------------------------------------------------------------


def test_the_page_is_served_with_a_strict_policy_and_its_service_worker_may_take_app(
        web: str) -> None:
    page = requests.get(f"{web}/app", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy
    assert "connect-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "<script>" not in page.text  # modules from files only
    worker = requests.get(f"{web}/app/sw.js", timeout=10)
    assert worker.status_code == 200
    assert worker.headers["Content-Type"].startswith("application/javascript")
    assert worker.headers["Service-Worker-Allowed"] == "/app"
    assert "notificationclick" in worker.text


def test_a_person_makes_shares_and_deletes_headshots_at_phone_width(
        web: str, phone: Any, fake_getimg: FakeGetImg) -> None:
    page = phone
    user = LiveServer(web).user(credits=10)
    page.goto(f"{web}/app")
    _screen(page, "sign-in")
    _check(page, "01-sign-in")
    _sign_in(page, web, user)

    # -- new headshot: the styles with their cost, the balance
    assert page.locator("#styles input").count() == 4
    assert "2 credits" in page.inner_text("label[for=style-model]")
    page.set_input_files("#selfie", str(SELFIE))
    page.wait_for_function("() => document.getElementById('selfie-preview').complete && "
                           "document.getElementById('selfie-preview').naturalWidth > 0")
    assert "balance: 10" in page.inner_text("#cost")
    _check(page, "02-new-headshot")

    # -- generate, and watch the percentage move
    fake_getimg.configure(latency_ms=GETIMG_LATENCY_MS)
    _start(page, ["corporate"], "3:4")
    texts: list[str] = []

    def mid_way() -> None:
        texts.append(page.inner_text(".progress-row"))
        _check(page, "03-progress")

    # The stream when the headshot carries a statusStreamUrl (§12), else polling.
    first = page.get_attribute(".progress-row", "data-id")
    streamed = "statusStreamUrl" in _api_headshot(user, int(first or 0))
    assert page.inner_text("#progress-transport") == (
        "Live updates from the service." if streamed else "Checking every 1.5 seconds.")
    seen = _follow(page, 1, mid_way)[0]
    assert seen[-1] == 100
    assert len({p for p in seen if p < 100}) >= 2, f"the percentage did not move: {seen}"
    assert seen == sorted(seen), seen
    assert "Generation in progress…" in texts[0] and "%" in texts[0]
    headshot_id = int(page.get_attribute(".progress-row", "data-id"))
    assert "Done!" in page.inner_text(".progress-row")
    fake_getimg.configure(latency_ms=0)

    # -- the result, full size, before/after
    page.click("#progress-done")
    _screen(page, "headshot")
    page.wait_for_function("() => document.getElementById('compare-after').naturalWidth > 0 && "
                           "document.getElementById('compare-before').naturalWidth > 0")
    api_view = _api_headshot(user, headshot_id)
    assert api_view["status"] == "completed"
    assert page.get_attribute("#compare-after", "src") == api_view["resultUrls"][0]
    assert page.get_attribute("#compare-before", "src") == api_view["beforeImageUrl"]

    # -- favorite
    page.click("#favorite")
    page.wait_for_selector("#favorite[aria-pressed=true]")
    assert _api_headshot(user, headshot_id)["isFavorite"] is True

    # -- compare: drag the slider (a swipe on a phone), then the keyboard
    _swipe(page, "#compare-slider", 0.5, 0.2)
    dragged = int(page.input_value("#compare-slider"))
    assert 10 <= dragged <= 30, dragged
    assert page.evaluate("() => document.getElementById('compare').style"
                         ".getPropertyValue('--split')") == f"{dragged}%"
    page.focus("#compare-slider")
    page.keyboard.press("ArrowRight")
    assert int(page.input_value("#compare-slider")) == dragged + 1
    _check(page, "04-headshot-before-after")

    # -- share: a public link that opens
    page.click("#share")
    page.wait_for_selector("#share-box:not([hidden])")
    share_url = page.input_value("#share-url")
    assert share_url.startswith(f"{web}/s/")
    assert requests.get(share_url, timeout=10).status_code == 200
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=web)
    page.click("#copy-link")
    page.wait_for_function("() => document.getElementById('notice').textContent === "
                           "'Link copied.'")
    assert page.evaluate("() => navigator.clipboard.readText()") == share_url
    _check(page, "05-headshot-shared")

    # -- export: PNG, 256 px, watermarked, saved as a file
    page.select_option("#export-format", "png")
    page.fill("#export-size", "256")
    page.fill("#export-watermark", "ACME")
    with page.expect_download() as download_info:
        page.click("#export-form button[type=submit]")
    download = download_info.value
    assert download.suggested_filename.startswith(f"headshot-{headshot_id}-")
    exported = Image.open(download.path())
    assert exported.format == "PNG" and max(exported.size) == 256

    # -- download: the result itself
    with page.expect_download() as download_info:
        page.click("#download")
    assert Image.open(download_info.value.path()).format == "JPEG"

    # -- My Headshots: counters, the grid, the favorites filter
    page.goto(f"{web}/app#/library")
    _screen(page, "library")
    page.wait_for_selector("#grid li")
    counter = page.inner_text("#library-counter")
    assert "You've generated 1 headshot" in counter and "1 credit spent" in counter
    assert page.get_attribute("#grid li", "data-id") == str(headshot_id)
    page.check("#favorites-only")
    page.wait_for_function("() => document.querySelectorAll('#grid li').length === 1")
    page.uncheck("#favorites-only")
    page.wait_for_selector("#grid li")
    _check(page, "06-my-headshots")

    # -- a batch of two styles: each one's progress, then side by side, then the ZIP
    _start(page, ["corporate", "creative"])
    _check(page, "07-progress-batch")
    rows = _follow(page, 2)
    assert [row[-1] for row in rows] == [100, 100]
    page.click("#progress-done")
    _screen(page, "batch")
    page.wait_for_function("() => document.querySelectorAll('#batch-grid img').length === 2 && "
                           "Array.from(document.querySelectorAll('#batch-grid img'))"
                           ".every(i => i.naturalWidth > 0)")
    assert sorted(page.eval_on_selector_all("#batch-grid li", "l => l.map(i => i.dataset.style)")
                  ) == ["corporate", "creative"]
    tops = page.eval_on_selector_all("#batch-grid li", "l => l.map(i => i.offsetTop)")
    assert tops[0] == tops[1]  # side by side, even at phone width
    _check(page, "08-batch-side-by-side")
    with page.expect_download() as download_info:
        page.click("#batch-zip")
    names = zipfile.ZipFile(download_info.value.path()).namelist()
    assert len(names) == 2 and any("creative" in n for n in names), names

    # -- cancel one that is being made
    fake_getimg.configure(latency_ms=30_000)
    _start(page, ["casual"])
    page.wait_for_selector(".progress-row[data-status=processing]", timeout=30_000)
    page.click(".progress-row button")
    page.wait_for_selector(".progress-row[data-status=failed]")
    assert "Cancelled" in page.inner_text(".progress-row")
    cancelled_id = int(page.get_attribute(".progress-row", "data-id"))
    assert _api_headshot(user, cancelled_id)["error"]["code"] == "cancelled"
    fake_getimg.configure(latency_ms=0)

    # -- one that GetImg refuses, retried from its screen
    fake_getimg.configure(script=["policy"])
    _start(page, ["corporate"])
    _follow(page, 1)
    assert "It failed" in page.inner_text(".progress-row")
    page.click("#progress-done")
    _screen(page, "headshot")
    page.wait_for_selector("#retry:not([hidden])")
    _check(page, "09-headshot-failed")
    failed_id = int(page.url.rsplit("/", 1)[1])
    page.click("#retry")
    _screen(page, "progress")
    assert _follow(page, 1)[0][-1] == 100
    assert _api_headshot(user, failed_id)["retryCount"] == 1

    # -- credits: the balance and what each entry paid for
    page.goto(f"{web}/app#/credits")
    _screen(page, "credits")
    balance = user.credits()
    assert balance == 10 - 1 - 2 - 1  # cancelled and failed ones refunded, the retry charged
    assert page.inner_text("#credits-balance") == f"{balance} credits"
    ledger = page.inner_text("#ledger")
    assert f"headshot #{headshot_id}" in ledger and "+10" in ledger and "Refunded" in ledger
    _check(page, "10-credits")

    # -- delete one, after the question
    page.goto(f"{web}/app#/headshot/{headshot_id}")
    _screen(page, "headshot")
    page.click("#delete")
    page.wait_for_selector("#confirm[open]")
    _check(page, "11-delete-confirm")
    page.click("#confirm-yes")
    _screen(page, "library")
    assert "deleted" in page.inner_text("#notice")
    assert user.call("GET", f"/api/headshots/history/{headshot_id}").status_code == 404

    # -- an error from the API, said in words: the deleted headshot's own screen
    page.goto(f"{web}/app#/headshot/{headshot_id}")
    page.wait_for_selector("#message:not([hidden])")
    assert "no longer exists" in page.inner_text("#message")
    _check(page, "12-error-in-words")

    # -- delete my data
    page.goto(f"{web}/app#/account")
    _screen(page, "account")
    _check(page, "13-account")
    page.click("#delete-data")
    _confirm(page)
    _screen(page, "library")
    page.wait_for_selector("#library-empty:not([hidden])")
    assert user.call("GET", "/api/headshots/history").json()["data"] == []
    assert user.credits() == balance  # the ledger and the balance stay


def test_too_few_credits_is_said_before_anything_is_sent(web: str, phone: Any) -> None:
    page = phone
    user = LiveServer(web).user(credits=1)
    _sign_in(page, web, user)
    page.set_input_files("#selfie", str(SELFIE))
    uploads: list[str] = []
    page.on("request", lambda request: uploads.append(request.url)
            if request.method == "POST" else None)
    page.uncheck("#style-corporate")
    page.check("#style-model")  # 2 credits, 1 held
    assert "not enough" in page.inner_text("#cost")
    assert page.is_disabled("#generate")
    _check(page, "14-new-headshot-too-few-credits")
    page.check("#style-corporate")
    assert "costs 3 credits and you have 1" in page.inner_text("#cost")
    page.uncheck("#style-model")
    assert page.is_enabled("#generate")
    assert uploads == [] and user.credits() == 1


def test_the_screens_at_desktop_size(web: str, desktop: Any) -> None:
    page = desktop
    user = LiveServer(web).user(credits=5)
    job = user.queue(style="creative", aspect_ratio="4:5")
    user.wait_for_status(job["id"])
    _sign_in(page, web, user)
    _check(page, "desktop-01-new-headshot")
    page.goto(f"{web}/app#/library")
    _screen(page, "library")
    page.wait_for_selector("#grid li img")
    _check(page, "desktop-02-my-headshots")
    page.click("#grid li a")
    _screen(page, "headshot")
    page.wait_for_function("() => document.getElementById('compare-after').naturalWidth > 0")
    _drag(page, "#compare-slider", 0.5, 0.75)
    dragged = int(page.input_value("#compare-slider"))
    assert 65 <= dragged <= 85, dragged
    _check(page, "desktop-03-headshot")
    page.goto(f"{web}/app#/credits")
    _screen(page, "credits")
    _check(page, "desktop-04-credits")


@pytest.fixture
def short_desktop(browser: Any) -> Iterator[Any]:
    """A desktop window too short for one page of tiles to reach the grid's sentinel (within
    its 400 px margin): on a taller one the client rightly loads the next page unscrolled."""
    context, page, problems = _open(browser, {"viewport": {"width": 1280, "height": 400}})
    yield page
    context.close()
    assert problems == [], problems


def test_my_headshots_loads_the_next_page_as_the_person_scrolls(web: str,
                                                                short_desktop: Any) -> None:
    page = short_desktop
    user_id = funded_user(30)
    upload = stored_upload(user_id)
    made = [make_job(user_id, upload, "completed")["id"] for _ in range(PAGE + 3)]
    page.goto(f"{web}/app")
    _screen(page, "sign-in")
    page.fill("#token", make_token(user_id))
    page.click("#sign-in-form button")
    _screen(page, "new")
    page.goto(f"{web}/app#/library")
    _screen(page, "library")
    page.wait_for_function("n => document.querySelectorAll('#grid li').length === n", arg=PAGE)
    assert page.is_visible("#library-more")
    page.mouse.wheel(0, 20_000)  # to the end of the grid: the next page comes by itself
    page.wait_for_function("n => document.querySelectorAll('#grid li').length === n",
                           arg=PAGE + 3)
    shown = page.eval_on_selector_all("#grid li", "l => l.map(i => +i.dataset.id)")
    assert shown == sorted(made, reverse=True)  # newest first, none twice, none missing
    assert not page.is_visible("#library-more")
    assert "You've generated" in page.inner_text("#library-counter")


def test_the_keyboard_reaches_every_control_of_a_screen(web: str, desktop: Any) -> None:
    """Tab order from the top of the new-headshot screen reaches the file input, each style,
    the aspect ratio and Generate, each visibly focused."""
    page = desktop
    _sign_in(page, web, LiveServer(web).user(credits=5))
    reached: list[str] = []
    for _ in range(20):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("() => document.activeElement.id || "
                                     "document.activeElement.getAttribute('href') || ''"))
    for control in ("selfie", "style-corporate", "style-model", "aspect-ratio", "generate"):
        assert control in reached, reached
    page.keyboard.press("Shift+Tab")
    focused = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert focused != "none"


def test_a_push_shows_a_notification_that_opens_the_headshot(
        web: str, phone: Any) -> None:
    """The service worker side of §13: a `headshot.completed` push, handed to the worker by the
    DevTools protocol as the browser's push service would, shows a notification whose target
    is the headshot's screen, and that screen opens."""
    page = phone
    user = LiveServer(web).user(credits=2)
    job = user.queue(style="corporate")
    user.wait_for_status(job["id"])
    page.context.grant_permissions(["notifications"], origin=web)
    _sign_in(page, web, user)
    cdp = page.context.new_cdp_session(page)
    registrations: list[dict[str, Any]] = []
    cdp.on("ServiceWorker.workerRegistrationUpdated",
           lambda event: registrations.extend(event["registrations"]))
    cdp.send("ServiceWorker.enable")
    scope = page.evaluate("""async () => {
        const registration = await navigator.serviceWorker.register(
            "/app/sw.js", {scope: "/app"});
        await navigator.serviceWorker.ready;
        return registration.scope; }""")
    assert scope == f"{web}/app"
    registration = cast(dict[str, Any], wait_until(
        lambda: next((r for r in registrations if r["scopeURL"] == scope), None),
        timeout=10, interval=0.1, message="the service worker's registration"))
    payload = json.dumps({"type": "headshot.completed", "headshotId": job["id"],
                          "title": "Your headshot is ready", "body": "Corporate, 1:1",
                          "url": "https://elsewhere.example/x"})
    notifications = _deliver_until_shown(page, cdp, web, str(registration["registrationId"]),
                                         payload)
    assert notifications == [{"title": "Your headshot is ready", "body": "Corporate, 1:1",
                              "url": f"/app#/headshot/{job['id']}",
                              "tag": f"headshot-{job['id']}"}]  # never the payload's other URL
    page.goto(f"{web}{notifications[0]['url']}")
    _screen(page, "headshot")
    assert page.inner_text("#headshot-title") == "Corporate headshot"
    # The form of `url` the service's pushes carry (§13) opens the same screen.
    page.goto(f"{web}/app/#/headshots/{job['id']}")
    _screen(page, "headshot")
    assert page.url == f"{web}/app#/headshots/{job['id']}"


def _browser_push_service(subscription: dict[str, Any]) -> str:
    """Chromium's own push service is Google's, out of reach here; this init script makes the
    browser's subscribe() answer with a subscription of the run's fake Web Push service
    (fakes/push/), which decrypts and records what the worker sends it. Everything else is
    real: the permission, the service worker, the key from the service, POST /api/me/devices,
    the worker's encrypted push."""
    return ("PushManager.prototype.subscribe = async function (options) {\n"
            "  window.subscribedWithKey = Array.from("
            "new Uint8Array(options.applicationServerKey));\n"
            f"  const json = {json.dumps(subscription)};\n"
            "  return {endpoint: json.endpoint, toJSON: () => json};\n"
            "};\n"
            "PushManager.prototype.getSubscription = async function () { return null; };\n")


def _deliver_until_shown(page: Any, cdp: Any, origin: str, registration_id: str,
                         data: str) -> list[dict[str, Any]]:
    """Hand the service worker a push as the browser's push service would, until its
    notification shows: a push service hands a message over again until the browser takes it,
    and a service worker still starting can miss the first (the notification's tag keeps it one
    notification however often it comes)."""

    def shown() -> list[dict[str, Any]] | None:
        found: list[dict[str, Any]] = page.evaluate("""async () => {
            const registration = await navigator.serviceWorker.ready;
            return (await registration.getNotifications()).map(
                n => ({title: n.title, body: n.body, url: n.data.url, tag: n.tag})); }""")
        return found or None

    deadline = time.monotonic() + 30
    while True:
        cdp.send("ServiceWorker.deliverPushMessage",
                 {"origin": origin, "registrationId": registration_id, "data": data})
        try:
            return cast(list[dict[str, Any]], wait_until(
                shown, timeout=5, interval=0.2, message="the notification"))
        except TimeoutError:
            if time.monotonic() > deadline:
                raise


def _registration_id(page: Any, cdp: Any, registrations: list[dict[str, Any]]) -> str:
    scope = f"{page.url.split('#')[0]}"
    found = cast(dict[str, Any], wait_until(
        lambda: next((r for r in registrations if r["scopeURL"] == scope), None),
        timeout=10, interval=0.1, message="the service worker's registration"))
    return str(found["registrationId"])


def test_after_the_first_generate_a_push_reaches_the_browser_and_opens_the_headshot(
        web: str, phone: Any, push: PushFakes, fake_getimg: FakeGetImg) -> None:
    """§13 end to end from the client's side: after the first generate the page asks for
    permission, registers its service worker, subscribes with the service's VAPID key and POSTs
    the subscription; the headshot completes, the worker pushes to the (fake) push service, and
    what it received, handed to the service worker as the browser's push service would, shows a
    notification that opens the headshot."""
    page = phone
    me = requests.get(f"{web}/api/me", timeout=10,
                      headers={"Authorization": f"Bearer {make_token(new_user_id())}"})
    assert me.status_code == 200, me.text
    assert me.json()["push"]["webPush"] == {"publicKey": push.webpush.application_server_key}
    subscription = push.webpush.subscribe()
    page.context.grant_permissions(["notifications"], origin=web)
    page.add_init_script(_browser_push_service(subscription))
    user = LiveServer(web).user(credits=2)
    _sign_in(page, web, user)
    cdp = page.context.new_cdp_session(page)
    registrations: list[dict[str, Any]] = []
    cdp.on("ServiceWorker.workerRegistrationUpdated",
           lambda event: registrations.extend(event["registrations"]))
    cdp.send("ServiceWorker.enable")
    # The device registers while the headshot is being made: a push goes to the devices the
    # user has when it ends.
    fake_getimg.configure(latency_ms=GETIMG_LATENCY_MS)
    _start(page, ["corporate"])

    def devices() -> list[dict[str, Any]] | None:
        found: list[dict[str, Any]] = user.call("GET", "/api/me").json().get("devices") or []
        return found or None

    registered = cast(list[dict[str, Any]],
                      wait_until(devices, timeout=20, interval=0.3, message="the device"))
    assert [device["platform"] for device in registered] == ["web"]
    assert bytes(page.evaluate("() => window.subscribedWithKey")) == base64.urlsafe_b64decode(
        push.webpush.application_server_key + "==")
    assert page.evaluate("async () => (await navigator.serviceWorker.ready).scope") == \
        f"{web}/app"
    headshot_id = int(page.get_attribute(".progress-row", "data-id") or 0)
    assert user.status(headshot_id).json()["status"] != "completed", "registered too late"
    assert _follow(page, 1)[0][-1] == 100

    delivered = wait_until(lambda: push.webpush.deliveries.to(subscription["endpoint"]),
                           timeout=30, interval=0.2, message="the push at the push service")
    notification = cast(list[Any], delivered)[0].notification
    assert notification["type"] == "headshot.completed"
    assert str(notification["headshotId"]) == str(headshot_id)
    notifications = _deliver_until_shown(page, cdp, web,
                                         _registration_id(page, cdp, registrations),
                                         json.dumps(notification))
    assert notifications == [{"title": notification["title"], "body": notification["body"],
                              "url": f"/app#/headshot/{headshot_id}",
                              "tag": f"headshot-{headshot_id}"}]
    page.goto(f"{web}{notification['url']}")  # what a click opens: /app/#/headshots/{id}
    _screen(page, "headshot")
    assert page.inner_text("#headshot-title") == "Corporate headshot"
    assert page.get_attribute("#compare-after", "src")
