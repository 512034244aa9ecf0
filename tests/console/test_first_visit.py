"""What a newcomer meets in the console: a landing page, a favicon, copyable secrets, readable times, tidy pages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse

from tests.console.console_world import build_console_world
from tests.support.http_receiver import receiving
from webhooks.models import WebhookEndpoint

pytestmark = pytest.mark.django_db


def test_the_root_is_a_landing_page_linking_the_console_the_docs_and_readiness(client):
    page = client.get("/")
    assert page.status_code == 200
    html = page.content.decode()
    links = set(re.findall(r'href="([^"]+)"', html))
    assert {"/admin/", "/api/docs/", "/readyz"} <= links
    assert 'rel="stylesheet"' in html and "/static/wildcat/landing.css" in html, "styled, not a bare 404"
    for link in ("/admin/", "/api/docs/"):
        assert client.get(link, follow=True).status_code == 200, link
    assert "checks" in client.get("/readyz").json(), "the probe answers (503 here: no broker in this test)"
    assert finders.find("wildcat/landing.css")


def test_view_site_in_the_console_leads_to_the_landing_page(admin_client):
    index = admin_client.get(reverse("admin:index")).content.decode()
    site_url = re.search(r'<a href="([^"]+)">View site</a>', index).group(1)
    assert admin_client.get(site_url).status_code == 200


def test_a_favicon_is_served_and_linked_from_every_console_page(client, admin_client):
    icon = client.get("/favicon.ico")
    assert icon.status_code == 302 and icon["Location"] == "/static/wildcat/favicon.svg"
    assert Path(finders.find("wildcat/favicon.svg")).read_text().startswith("<svg")
    for page in (admin_client.get(reverse("admin:index")), client.get(reverse("admin:login")), client.get("/")):
        assert re.search(rb'<link rel="icon" href="/static/wildcat/favicon\.svg"', page.content)


def test_the_webhook_secret_gets_a_copy_button_like_the_api_key(admin_client, settings, api_key):
    settings.WILDCAT_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    page = admin_client.post(
        reverse("admin:webhooks_webhookendpoint_add"),
        {"api_key": api_key.pk, "url": "http://127.0.0.1:9/hook", "event_types": ["message.received"]},
        follow=True,
    )
    html = page.content.decode()
    secret = re.search(r'<code id="wc-secret-value">(whsec_[^<]+)</code>', html).group(1)
    assert 'id="wc-secret-copy"' in html and "navigator.clipboard" in html
    key_page = admin_client.post(reverse("admin:apikeys_apikey_add"), {"label": "copy-check"}, follow=True)
    assert 'id="wc-secret-copy"' in key_page.content.decode()
    assert secret not in admin_client.get(page.request["PATH_INFO"]).content.decode(), "still shown only once"


def test_message_times_are_shown_to_the_second(admin_client):
    world = build_console_world()
    listing = admin_client.get(reverse("admin:messaging_message_changelist")).content.decode()
    assert "2026-11-30 14:05:37" in listing and "2026-11-30 14:05:38" in listing
    detail = admin_client.get(reverse("admin:messaging_message_change", args=[world["messages"][0].pk]))
    assert "2026-11-30 14:05:37" in detail.content.decode()


def test_the_message_page_shows_media_once(admin_client):
    world = build_console_world()
    html = admin_client.get(reverse("admin:messaging_message_change", args=[world["messages"][0].pk])).content.decode()
    labels = [label.strip().lower() for label in re.findall(r"<label[^>]*>([^<:]+):?</label>", html)]
    assert labels.count("media") == 1, labels


@pytest.mark.parametrize(
    "changelist",
    ["admin:apikeys_apikey_changelist", "admin:messaging_message_changelist", "admin:messaging_media_changelist"],
)
def test_breadcrumbs_never_repeat_a_name(admin_client, changelist):
    html = admin_client.get(reverse(changelist)).content.decode()
    crumbs = re.search(r'<div class="breadcrumbs">(.*?)</div>', html, re.S).group(1)
    names = [re.sub(r"<[^>]+>|\s+", " ", part).strip() for part in crumbs.split("&rsaquo;")]
    assert len(names) == len(set(names)) == 3, names
    assert "API keys › API keys" not in re.sub(r"<[^>]+>|\s+", " ", html).replace("&rsaquo;", "›")


def test_the_test_webhook_notice_says_where_to_see_the_delivery(admin_client, api_key, settings):
    settings.WILDCAT_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    with receiving() as receiver:
        endpoint = WebhookEndpoint.objects.create(api_key=api_key, url=f"{receiver.url}/hook", secret="whsec_x" * 6)
        page = admin_client.post(reverse("admin:webhooks_endpoint_test", args=[endpoint.pk]), follow=True)
    delivery = endpoint.deliveries.get()
    notice = re.search(r'<li class="success">(.*?)</li>', page.content.decode(), re.S).group(1)
    delivery_page = reverse("admin:webhooks_webhookdelivery_change", args=[delivery.pk])
    assert re.findall(r'href="([^"]+)"', notice) == [delivery_page]
    assert "delivery page" in notice and "receiver's answer" in notice and "Recent deliveries" in notice
