"""The inspector's browser tests: Playwright's Python package driving Debian's Chromium (/usr/bin/chromium), never a
downloaded browser (no `playwright install`)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture(scope="module")
def browser():
    # Module scope, not session: Playwright's sync API keeps an asyncio loop running in the main thread while it is
    # open, and every later test that calls asyncio.run() (the async SDK clients, pytester runs) would fail.
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"The inspector's browser tests need Debian's Chromium at {CHROMIUM}: install it with apt-get install "
                    f"chromium (./dev test does), never with playwright install.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


class Page:
    """A browser page that collects JavaScript errors (uncaught exceptions and console errors)."""

    def __init__(self, browser, allowed=()):
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.allowed = allowed
        self.page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        self.page.on("console", lambda msg: msg.type == "error" and not any(a in msg.text for a in self.allowed)
                     and self.errors.append(f"console: {msg.text}"))

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / name
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def open_page(browser):
    pages: list[Page] = []

    def make(allowed=()) -> Page:
        page = Page(browser, allowed)
        pages.append(page)
        return page

    yield make
    errors = [e for p in pages for e in p.errors]
    for p in pages:
        p.close()
    assert not errors, f"The inspector's pages raised JavaScript errors: {errors}"
