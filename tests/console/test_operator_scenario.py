"""What an operator does in the console, in headless Chromium against the live server, real workers and Redis.

Log in; create a key and see its secret once; create a sandbox connection, watch the QR rotate, simulate
the scan and see "ready" without reloading; send a text and see it sent; point a webhook at a failing
receiver, see the failure, fix the receiver, replay and see it delivered. Every step leaves a screenshot
in test-artifacts/console/<database>/.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from django.db import connection as db_connection
from django.db import connections

from accounts.models import WaConnection
from apikeys.models import ApiKey
from tests.accounts.runtime_support import RUNTIME_ENV
from tests.console.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.http_receiver import Reply, receiving
from tests.support.processes import (
    PROJECT_ROOT,
    running,
    start_beat,
    start_worker,
    wait_for_child_sessions_to_end,
    wait_until,
)
from tests.support.services import missing_service
from webhooks.models import WebhookDelivery

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "console-scenario-pw-1"  # a throwaway superuser in the test database
# Short QR codes so one rotates while the operator watches; receipts slow enough to see "sent";
# webhook retries far away so only the operator's replay can deliver the failed event.
WORKER_ENV = {
    **RUNTIME_ENV,
    "WILDCAT_SANDBOX_QR_FIRST_SECONDS": "5",
    "WILDCAT_SANDBOX_QR_NEXT_SECONDS": "5",
    "WILDCAT_SANDBOX_QR_CODES": "30",
    "WILDCAT_SANDBOX_DELIVERED_SECONDS": "600",
    "WILDCAT_SANDBOX_READ_SECONDS": "600",
    "WILDCAT_SEND_RATE_PER_MINUTE": "0",
    "WILDCAT_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
    "WILDCAT_WEBHOOK_RETRY_SCALE": "1000",
    "WILDCAT_WEBHOOK_SWEEP_SECONDS": "0.5",
}
SLOW = 90_000  # ms: the machine is shared and slow; every wait is generous and ends as soon as it can


class Shots:
    """Numbered full-page screenshots of the scenario, one folder per database."""

    def __init__(self, page, folder: Path) -> None:
        self.page, self.folder, self.count = page, folder, 0
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.png"):
            old.unlink()

    def __call__(self, name: str) -> None:
        self.count += 1
        self.page.screenshot(path=str(self.folder / f"{self.count:02d}-{name}.png"), full_page=True)


def click_through(page, selector: str) -> None:
    """Click something that loads a new page, and wait for that page (so a reload cannot cancel it)."""
    with page.expect_navigation():
        page.click(selector)


def reload_until(page, selector: str, *, timeout: float = 60, message: str = "") -> None:
    """Reload the page (as an operator would) until ``selector`` is on it."""
    deadline = time.monotonic() + timeout
    while not page.locator(selector).count():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message or selector} on {page.url}")
        time.sleep(0.5)
        page.reload()


@pytest.fixture
def browser_page(monkeypatch):
    if not CHROMIUM.exists():
        missing_service(f"Chromium is not installed at {CHROMIUM} (scripts/services.sh installs it)")
    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.set_default_timeout(SLOW)
        try:
            yield page
        finally:
            browser.close()
            # Inside Playwright's sync API the test's ORM calls get their own connection (another
            # context); close it here, or PostgreSQL refuses to drop the test database.
            connections.close_all()


@pytest.fixture
def console_workers(redis_url, process_logs, settings):
    settings.WILDCAT_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    sessions = start_worker("console-sessions", "sessions", process_logs, pool="threads", **WORKER_ENV)
    hooks = start_worker("console-hooks", "default,webhooks", process_logs, **WORKER_ENV)
    beat = start_beat(process_logs, **WORKER_ENV)
    with running(sessions, hooks, beat):
        yield sessions, hooks, beat
    wait_for_child_sessions_to_end()


def step_log_in(page, shot, url: str) -> None:
    page.goto(f"{url}/admin/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    shot("login")
    click_through(page, "input[type=submit]")
    page.wait_for_selector("[data-testid=dashboard]")
    shot("dashboard")


def step_create_key(page, shot, url: str) -> ApiKey:
    page.goto(f"{url}/admin/apikeys/apikey/add/")
    page.fill("#id_label", "crm-integration")
    click_through(page, "input[name=_save]")
    secret = page.locator("#wc-secret-value").inner_text()
    assert re.fullmatch(r"wc_live_[0-9A-Za-z]{38}", secret)
    assert page.locator("#wc-secret-copy").is_visible()
    shot("key-secret-shown-once")
    page.reload()
    assert page.locator("[data-testid=api-key-secret]").count() == 0
    assert secret not in page.content()
    shot("key-after-reload")
    return ApiKey.objects.get(label="crm-integration")


def step_connect(page, shot, url: str, api_key: ApiKey) -> WaConnection:
    page.goto(f"{url}/admin/accounts/waconnection/add/")
    page.select_option("#id_api_key", str(api_key.pk))
    page.fill("#id_name", "front-desk")
    page.select_option("#id_driver", "sandbox")
    assert page.is_checked("#id_start")
    click_through(page, "input[name=_save]")
    page.wait_for_selector("#wc-qr-box:not([hidden]) img#wc-qr[src^='data:image/png']")
    first_qr = page.get_attribute("#wc-qr", "src")
    shot("connection-qr")
    page.wait_for_function("old => document.getElementById('wc-qr').getAttribute('src') !== old", arg=first_qr)
    assert page.get_attribute("#wc-qr", "src").startswith("data:image/png")
    shot("connection-qr-rotated")
    page.evaluate("window.wcSamePage = true")  # gone if the page reloads
    page.click("button[data-action=scan]")  # posts in the background; the page stays
    page.wait_for_selector(".messagelist .success >> text=Simulate scan: done")
    page.wait_for_selector("#wc-status .wc-badge[data-status=ready]")
    assert page.evaluate("window.wcSamePage === true"), "ready appeared without a reload"
    assert page.locator("#wc-qr-box").is_hidden()
    page.wait_for_selector("#wc-timeline .wc-tl[data-kind=state] use[href='#wc-i-check']")
    assert page.locator(".field-phone_number .readonly").inner_text().startswith("+"), "details follow too"
    shot("connection-ready")
    return WaConnection.objects.get(name="front-desk")


def step_send(page, shot, connection: WaConnection) -> None:
    page.fill("#id_to", "+49 151 12345678")
    page.fill("#id_text", "Hello from the operator console")
    shot("send-form")
    click_through(page, "#wc-send-form button[type=submit]")
    page.wait_for_selector(".messagelist .success")
    click_through(page, "text=Messages of this connection")
    reload_until(page, "#result_list .wc-badge[data-status=sent]", message="the message reaching sent")
    assert "Hello from the operator console" in page.locator("#result_list").inner_text()
    shot("message-sent")


def step_webhook(page, shot, url: str, api_key: ApiKey, receiver_url: str, healthy: dict) -> WebhookDelivery:
    page.goto(f"{url}/admin/webhooks/webhookendpoint/add/")
    page.select_option("#id_api_key", str(api_key.pk))
    page.fill("#id_url", "http://10.20.30.40/hook")
    click_through(page, "input[name=_save]")
    assert "not a public address" in page.locator(".field-url .errorlist").inner_text()
    shot("webhook-private-address-refused")
    page.fill("#id_url", f"{receiver_url}/hook")
    page.check("input[name=event_types][value='message.received']")
    click_through(page, "input[name=_save]")
    page.wait_for_selector("[data-testid=webhook-secret]")
    shot("webhook-created")
    click_through(page, "button[data-action=send-test]")
    click_through(page, ".messagelist .success a")
    reload_until(page, "#wc-delivery-status .wc-badge[data-status=failed]", message="the failed delivery")
    assert "500" in page.locator("#attempts-group").inner_text()
    shot("webhook-delivery-failed")
    healthy["ok"] = True
    click_through(page, "button[data-action=replay]")
    reload_until(page, "#wc-delivery-status .wc-badge[data-status=delivered]", message="the replayed delivery")
    shot("webhook-delivery-replayed")
    click_through(page, "#wc-delivery-status ~ .wc-conn__meta a")
    page.wait_for_selector("[data-testid=endpoint-success-rate]")
    shot("webhook-endpoint-health")
    return WebhookDelivery.objects.get(endpoint__api_key=api_key)


def test_operator_runs_wildcat_from_the_console(live_server, console_workers, browser_page, django_user_model):
    django_user_model.objects.create_superuser("operator", "operator@example.com", PASSWORD)
    folder = PROJECT_ROOT / "test-artifacts" / "console" / db_connection.vendor
    shot = Shots(browser_page, folder)
    healthy = {"ok": False}
    behaviour = lambda _request, _index: Reply() if healthy["ok"] else Reply(status=500, body=b"receiver down")  # noqa: E731

    step_log_in(browser_page, shot, live_server.url)
    api_key = step_create_key(browser_page, shot, live_server.url)
    connection = step_connect(browser_page, shot, live_server.url, api_key)
    assert connection.status == "ready" and connection.phone_number
    step_send(browser_page, shot, connection)
    with receiving(behaviour) as receiver:
        delivery = step_webhook(browser_page, shot, live_server.url, api_key, receiver.url, healthy)
        ids = [request.headers["webhook-id"] for request in receiver.requests]
    assert delivery.status == "delivered"
    assert ids == [delivery.message_id, delivery.message_id], "one failure, then the replay with the same id"
    assert list(delivery.attempts.order_by("number").values_list("status_code", flat=True)) == [500, 200]

    wait_until(lambda: "console-sessions" in browser_page.goto(f"{live_server.url}/admin/").text(), timeout=30)
    browser_page.wait_for_selector("#wc-dash-workers .wc-table")
    shot("dashboard-after")
    browser_page.evaluate("localStorage.setItem('theme', 'dark')")  # the admin's own theme switch
    browser_page.goto(f"{live_server.url}/admin/accounts/waconnection/{connection.pk}/change/")
    browser_page.wait_for_selector("#wc-status .wc-badge[data-status=ready]")
    shot("connection-dark-theme")
    assert len(list(folder.glob("*.png"))) == shot.count

    step_delete(browser_page, live_server.url, connection)
    errors = [line for worker in console_workers for line in worker.log_text().splitlines() if '"ERROR"' in line]
    assert not errors, f"the workers logged errors during the scenario: {errors[:3]}"


def step_delete(page, url: str, connection: WaConnection) -> None:
    """Deleting a ready connection logs it out through its session first; none of it is an error."""
    page.goto(f"{url}/admin/accounts/waconnection/{connection.pk}/delete/")
    page.click("input[type=submit]")
    wait_until(
        lambda: not WaConnection.objects.filter(pk=connection.pk).exists(),
        timeout=60,
        message="the connection is logged out and deleted",
    )
    time.sleep(2)  # the session host reports the logout of a connection that is now gone
