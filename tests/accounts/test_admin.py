"""The connections admin: list, detail with live QR and timeline, the live JSON view and the actions."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from accounts import services
from accounts.models import SessionCommand, WaConnection
from tests.accounts.factories import ConnectionFactory
from tests.apikeys.factories import ApiKeyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw-not-used-elsewhere")
    client.force_login(user)
    return client


def test_list_shows_badges_owner_and_phone(admin_client):
    connection = ConnectionFactory(status="ready", phone_number="+4915112345678")
    response = admin_client.get(reverse("admin:accounts_waconnection_changelist"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="wc-badge wc-badge--ready"' in html
    assert connection.api_key.label in html and "+4915112345678" in html
    assert "wildcat/connections.css" in html


def test_detail_shows_the_qr_timeline_and_actions(admin_client):
    connection = ConnectionFactory(running=True)
    services.connection_qr_issue(connection_id=connection.pk, qr="2@a,b,c,d", expires_in=60)
    response = admin_client.get(reverse("admin:accounts_waconnection_change", args=[connection.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="wc-qr"' in html and "data:image/png;base64," in html
    assert "QR issued" in html and 'data-action="scan"' in html and 'data-action="logout"' in html
    assert reverse("admin:accounts_waconnection_live", args=[connection.pk]) in html
    assert "wildcat/connections.js" in html


def test_neonize_detail_has_no_sandbox_button(admin_client):
    connection = ConnectionFactory(driver="neonize")
    html = admin_client.get(reverse("admin:accounts_waconnection_change", args=[connection.pk])).content.decode()
    assert 'data-action="start"' in html and 'data-action="scan"' not in html
    response = admin_client.post(reverse("admin:accounts_waconnection_act", args=[connection.pk, "scan"]))
    assert response.status_code == 404


def test_live_view_follows_the_state(admin_client):
    connection = ConnectionFactory(running=True)
    url = reverse("admin:accounts_waconnection_live", args=[connection.pk])
    assert admin_client.get(url).json()["qr_png"] is None
    services.connection_qr_issue(connection_id=connection.pk, qr="2@a,b,c,d", expires_in=60)
    live = admin_client.get(url).json()
    assert live["status"] == "pending" and live["qr_png"].startswith("data:image/png;base64,")
    assert live["events"][0]["kind_code"] == "qr", "newest first"


def test_actions_call_the_services(admin_client):
    connection = ConnectionFactory()
    act = lambda name: admin_client.post(  # noqa: E731
        reverse("admin:accounts_waconnection_act", args=[connection.pk, name]), follow=True
    )
    response = act("start")
    assert response.status_code == 200 and "Start: done" in response.content.decode()
    assert WaConnection.objects.get(pk=connection.pk).desired_state == "running"
    again = act("start").content.decode()
    assert "already started" in again
    services.connection_qr_issue(connection_id=connection.pk, qr="2@a,b,c,d", expires_in=60)
    assert "sent to the session" in act("scan").content.decode()
    assert SessionCommand.objects.get(connection=connection).payload == {"op": "scan", "args": {}}
    act("stop")
    assert WaConnection.objects.get(pk=connection.pk).status == "not_started"
    assert admin_client.get(reverse("admin:accounts_waconnection_act", args=[connection.pk, "stop"])).status_code == 405


def test_add_form_creates_through_the_service(admin_client, settings):
    api_key = ApiKeyFactory()
    url = reverse("admin:accounts_waconnection_add")
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {"api_key": api_key.pk, "name": "from-admin", "driver": "sandbox"})
    assert response.status_code == 302, response.content
    created = WaConnection.objects.get(name="from-admin")
    assert created.events.get().detail == {"created": True}
    settings.WILDCAT_MAX_CONNECTIONS_PER_KEY = 1
    over = admin_client.post(url, {"api_key": api_key.pk, "name": "second", "driver": "sandbox"})
    assert over.status_code == 200 and "the maximum" in over.content.decode()


def test_command_and_worker_lists_render(admin_client):
    ConnectionFactory(running=True)
    for name in ["admin:accounts_sessioncommand_changelist", "admin:wildcat_workernode_changelist"]:
        assert admin_client.get(reverse(name)).status_code == 200
