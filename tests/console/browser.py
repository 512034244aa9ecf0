"""Headless Chromium for the console and docs tests: the system's browser, with no background network."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connection, connections

from tests.support.processes import PROJECT_ROOT
from tests.support.services import missing_service

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAPTOP = {"width": 1366, "height": 768}


def artifacts_folder(name: str) -> Path:
    """test-artifacts/<name>/<database vendor>/, emptied of earlier screenshots."""
    folder = PROJECT_ROOT / "test-artifacts" / name / connection.vendor
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return folder


@contextmanager
def chromium_page(monkeypatch, *, viewport: dict[str, int] = LAPTOP) -> Iterator[object]:
    """A Playwright page in headless Chromium; skips (fails under CI) when Chromium is missing."""
    if not CHROMIUM.exists():
        missing_service(f"Chromium is not installed at {CHROMIUM} (scripts/services.sh installs it)")
    # Playwright's sync API keeps an event loop in this thread; the test's ORM calls stay synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=viewport)
        page.set_default_timeout(60_000)
        try:
            yield page
        finally:
            browser.close()
            # The ORM calls made inside Playwright's loop got their own connection; PostgreSQL
            # refuses to drop the test database while it is open.
            connections.close_all()


def log_in(page, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    with page.expect_navigation():
        page.click("input[type=submit]")
