"""Every console list fits a 1366 px laptop screen: no column cut off or pushed past the edge (screenshots saved)."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

from tests.console.browser import LAPTOP, artifacts_folder, chromium_page, log_in
from tests.console.console_world import build_console_world

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "laptop-width-pw-1"  # a throwaway superuser in the test database
# The result table's right edge, the widest row's cells and the page itself, in CSS pixels.
MEASURE = """() => {
  const table = document.getElementById('result_list');
  const box = table.closest('.results') || table.parentElement;
  const cells = [...table.querySelectorAll('thead th')].map(th => ({
    name: th.innerText.trim(), right: Math.round(th.getBoundingClientRect().right)}));
  return {tableWidth: table.scrollWidth, boxWidth: box.clientWidth, pageWidth: document.documentElement.scrollWidth,
          viewport: window.innerWidth, cells: cells, rows: table.querySelectorAll('tbody tr').length};
}"""


def _changelists() -> list[tuple[str, str]]:
    """(file name, URL) of every list in the console."""
    names = [(model._meta.app_label, model._meta.model_name) for model in admin.site._registry]
    return sorted((f"{app}-{model}", reverse(f"admin:{app}_{model}_changelist")) for app, model in names)


def test_every_changelist_fits_at_1366_px(live_server, monkeypatch, django_user_model):
    django_user_model.objects.create_superuser("operator", "operator@example.com", PASSWORD)
    world = build_console_world()
    folder = artifacts_folder("admin-1366")
    too_wide = {}
    with chromium_page(monkeypatch, viewport=LAPTOP) as page:
        log_in(page, live_server.url, "operator", PASSWORD)
        for name, url in _changelists():
            page.goto(f"{live_server.url}{url}")
            page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
            if not page.locator("#result_list").count():
                continue  # an empty list shows no table
            size = page.evaluate(MEASURE)
            cut = [cell["name"] for cell in size["cells"] if cell["right"] > size["viewport"]]
            if size["tableWidth"] > size["boxWidth"] or size["pageWidth"] > size["viewport"] or cut:
                too_wide[name] = {**size, "cut": cut}
        for name, url in (
            ("message-detail", reverse("admin:messaging_message_change", args=[world["messages"][0].pk])),
            ("endpoint-detail", reverse("admin:webhooks_webhookendpoint_change", args=[world["endpoint"].pk])),
        ):
            page.goto(f"{live_server.url}{url}")
            page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
            assert page.evaluate("document.documentElement.scrollWidth") <= LAPTOP["width"], name
    assert too_wide == {}
    assert {"messaging-message.png", "webhooks-webhookdelivery.png"} <= {shot.name for shot in folder.glob("*.png")}
