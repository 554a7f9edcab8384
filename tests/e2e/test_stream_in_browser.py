"""A web client follows a headshot with `new EventSource(statusStreamUrl)` (§12), in a real
headless Chromium (Debian's `chromium`, driven by Playwright, as `test_admin_dashboard.py`),
from a page of another origin that CORS_ORIGINS allows, with the real worker and the fake GetImg.

The service is reached through a proxy the test can cut (`tests/support/cutting_proxy.py`;
PUBLIC_BASE_URL names it, so the signed URL leads there): cut mid-way, the EventSource
reconnects by itself with `Last-Event-ID` and still gets `completed` exactly once. After the
final event its reconnect gets a 204, and the EventSource closes for good.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from devstack.processes import free_port, wait_for_web, web_service
from fakes.getimg.process import FakeGetImg
from tests.support.browser import launched_chromium, watched_page
from tests.support.cutting_proxy import CuttingProxy
from tests.support.live import LiveServer
from tests.support.session import RUN_DIR

pytestmark = pytest.mark.usefixtures("worker", "ledger_invariant")

ORDER = {"queued": 0, "processing": 1, "completed": 2, "failed": 2}
# The web client: it only opens the stream and writes down what the EventSource reports.
PAGE = b"""<!doctype html>
<title>following a headshot</title>
<script>
window.seen = []; window.opens = 0; window.errors = 0;
window.follow = (url) => {
  const source = new EventSource(url);
  window.source = source;
  source.onopen = () => { window.opens += 1; };
  source.onerror = () => { window.errors += 1; };
  source.addEventListener("status", (event) => {
    window.seen.push({id: event.lastEventId, data: JSON.parse(event.data)});
  });
};
</script>
"""


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass


@pytest.fixture(scope="module")
def page_origin() -> Iterator[str]:
    """The web client's own origin: a static server on another loopback port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def proxied_web(page_origin: str) -> Iterator[tuple[str, CuttingProxy]]:
    """A web process allowing the page's origin, whose public URL is a cutting proxy to it:
    (its own base URL, the proxy)."""
    port = free_port()
    with CuttingProxy(port) as proxy:
        service = web_service(port, RUN_DIR, name="web-cors-stream",
                              env={"CORS_ORIGINS": page_origin,
                                   "PUBLIC_BASE_URL": proxy.base_url}).start()
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for_web(service, base)
            yield base, proxy
        finally:
            service.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launched_chromium() as browser:
        yield browser


@pytest.fixture
def page(browser: Any, page_origin: str) -> Iterator[Any]:
    # A CORS refusal shows only on the console (the EventSource just errors): any fails it.
    with watched_page(browser.new_context(),
                      complaint=lambda text: "CORS" in text or "Access-Control" in text) as page:
        page.goto(page_origin + "/")
        yield page


def seen(page: Any) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = page.evaluate("() => window.seen")
    return events


def assert_followed_once(events: list[dict[str, Any]]) -> None:
    """Each state at most once, in order, ids never back, `completed` last and once."""
    statuses = [event["data"]["status"] for event in events]
    assert statuses[-1] == "completed" and statuses.count("completed") == 1, statuses
    assert [ORDER[status] for status in statuses] == sorted(ORDER[s] for s in statuses)
    ids = [int(event["id"]) for event in events]
    assert ids == sorted(ids), ids
    shown = [(event["id"], event["data"]["status"], event["data"]["progress"])
             for event in events]
    assert len(set(shown)) == len(shown), f"an event came twice: {shown}"
    assert events[-1]["data"]["resultUrls"]


def stream_requests(proxy: CuttingProxy, job_id: int) -> list[str | None]:
    """The `Last-Event-ID` of each request the browser made for the job's stream (None: it
    sent none), in order; several may share a kept-alive connection."""
    sent_ids: list[str | None] = []
    for sent in proxy.requests_sent():
        for head in sent.split("\r\n\r\n"):
            lines = head.split("\r\n")
            if not lines[0].startswith(f"GET /api/headshots/status/{job_id}/signed-stream?"):
                continue
            ids = [line.partition(":")[2].strip() for line in lines[1:]
                   if line.lower().startswith("last-event-id:")]
            sent_ids.append(ids[0] if ids else None)
    return sent_ids


def closed_for_good(page: Any) -> None:
    """After the final event the stream ends, the EventSource reconnects with the final id,
    gets a 204, and stops (readyState CLOSED)."""
    page.wait_for_function("() => window.source.readyState === EventSource.CLOSED",
                           timeout=20_000)


def test_a_page_of_an_allowed_origin_follows_a_headshot_to_completed(
        proxied_web: tuple[str, CuttingProxy], page: Any, fake_getimg: FakeGetImg) -> None:
    base, proxy = proxied_web
    fake_getimg.configure(latency_ms=1500)
    job = LiveServer(base).user(credits=1).queue()
    url = job["statusStreamUrl"]
    assert url.startswith(proxy.base_url + "/api/headshots/status/")
    page.evaluate("url => window.follow(url)", url)
    page.wait_for_function(
        "() => window.seen.some(event => event.data.status === 'completed')", timeout=60_000)
    closed_for_good(page)
    events = seen(page)
    assert_followed_once(events)
    assert events[-1]["data"]["id"] == job["id"]
    assert page.evaluate("() => window.opens") == 1  # the 204 opens nothing
    assert stream_requests(proxy, job["id"])[-1] == events[-1]["id"]


def test_a_stream_cut_mid_way_resumes_with_last_event_id(
        proxied_web: tuple[str, CuttingProxy], page: Any, fake_getimg: FakeGetImg) -> None:
    base, proxy = proxied_web
    fake_getimg.configure(latency_ms=6000)  # processing long enough to be cut in the middle
    job = LiveServer(base).user(credits=1).queue()
    page.evaluate("url => window.follow(url)", job["statusStreamUrl"])
    page.wait_for_function(
        "() => window.seen.some(event => event.data.status === 'processing')", timeout=30_000)
    before = len(seen(page))
    assert proxy.cut() >= 1
    page.wait_for_function(
        "() => window.seen.some(event => event.data.status === 'completed')", timeout=60_000)
    closed_for_good(page)
    events = seen(page)
    assert_followed_once(events)
    assert page.evaluate("() => window.opens") >= 2  # it did reconnect
    # Its first request had no id, the reconnect the last id it got before the cut, the
    # last one (answered 204) the final event's.
    assert stream_requests(proxy, job["id"]) == [None, events[before - 1]["id"],
                                                 events[-1]["id"]]
