"""Debian's Chromium, driven by Playwright, for the browser tests (tests/e2e/): one way to
launch it, and a page that fails its test on any script error or console complaint."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package; scripts/run/lib.sh names it too


def csp_refusal(text: str) -> bool:
    return "Content Security Policy" in text


@contextmanager
def launched_chromium() -> Iterator[Any]:
    """A headless Chromium for the module's tests; a missing one fails them, saying how."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: the browser tests need Debian's chromium "
                    "(`./run setup` installs it, or `apt-get install -y chromium`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                             args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def watched_page(context: Any, *, complaint: Callable[[str], bool] = csp_refusal
                 ) -> Iterator[Any]:
    """A page of `context` (closed after): its test fails on a script error or on a console
    message `complaint` picks (by default, anything the page's CSP refused)."""
    page = context.new_page()
    page.set_default_timeout(15_000)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda message: problems.append(message.text)
            if complaint(message.text) else None)
    yield page
    context.close()
    assert problems == [], problems
