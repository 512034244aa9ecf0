"""The API docs work offline: Swagger UI and ReDoc come from our own static files and render the operations."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from tests.console.browser import artifacts_folder, chromium_page

DOC_PAGES = ["/api/docs/", "/api/redoc/"]
# Every src/href in the page, and every absolute URL anywhere in its text (scripts included).
REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
ABSOLUTE_URL = re.compile(r"""(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}[^\s"'<>]*""")


@pytest.mark.django_db
@pytest.mark.parametrize("path", DOC_PAGES)
def test_docs_page_references_no_external_host(client, path):
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    references = REFERENCE.findall(html)
    assert any("/static/drf_spectacular_sidecar/" in ref for ref in references), references
    external = [ref for ref in references if urlsplit(ref).netloc] + ABSOLUTE_URL.findall(html)
    assert external == []


def test_the_sidecar_is_pinned_in_the_runtime_requirements():
    from tests.support.processes import PROJECT_ROOT

    pins = (PROJECT_ROOT / "requirements.txt").read_text().splitlines()
    assert any(re.fullmatch(r"drf-spectacular-sidecar==[0-9.]+", line) for line in pins)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_swagger_ui_renders_the_operations_without_the_internet(live_server, monkeypatch):
    folder = artifacts_folder("api-docs")
    with chromium_page(monkeypatch) as page:
        attempted: set[str] = set()
        blocked: set[str] = set()  # stopped in the browser by the page's own Content-Security-Policy
        page.on("request", lambda request: request.url.startswith("http") and attempted.add(request.url))
        page.on("requestfailed", lambda request: request.failure == "csp" and blocked.add(request.url))
        page.goto(f"{live_server.url}/")  # the landing page leads to the docs
        assert page.evaluate("getComputedStyle(document.querySelector('.wc-landing')).maxWidth") == "640px", "styled"
        page.screenshot(path=str(folder / "landing.png"), full_page=False)
        with page.expect_navigation():
            page.click("[data-testid=landing-docs]")
        page.wait_for_selector(".opblock .opblock-summary-path")
        paths = page.locator(".opblock .opblock-summary-path").all_inner_texts()
        page.screenshot(path=str(folder / "swagger-ui.png"), full_page=False)
        assert any(path.strip().endswith("/api/v1/me") for path in paths), paths[:10]
        assert len(paths) > 20, "every operation of the API is listed"
        assert page.locator(".opblock-tag-section").count() >= 2, "grouped by tag"

        page.goto(f"{live_server.url}/api/redoc/")
        page.wait_for_selector("[data-section-id^='operation/']", state="attached")
        operations = page.locator("[data-section-id^='operation/']").count()
        page.screenshot(path=str(folder / "redoc.png"), full_page=False)
        assert operations > 20
    hosts = {urlsplit(url).netloc for url in attempted - blocked}
    assert hosts == {urlsplit(live_server.url).netloc}, "the browser asked no other host for anything"
