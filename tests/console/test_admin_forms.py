"""Console pages with the Django test client: the dashboard's figures, and bad input answered by form errors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts import services as connections
from accounts.models import SessionCommand, WaConnection
from apikeys.models import ApiKey
from console.dashboard import dashboard_figures
from messaging.models import Message
from tests.accounts.factories import ConnectionFactory
from tests.apikeys.factories import ApiKeyFactory
from tests.messaging.factories import MessageFactory
from tests.webhooks.factories import EndpointFactory
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.services import event_emit
from wildcat.models import WorkerNode

pytestmark = pytest.mark.django_db


def _message(connection: WaConnection, direction: str, n: int, **fields) -> Message:
    return MessageFactory(
        connection=connection,
        inbound=direction == Message.Direction.INBOUND,
        wa_message_id=f"{direction}-{n}",
        text="hi",
        status=Message.Status.SENT,
        **fields,
    )


@pytest.fixture
def busy_day():
    """Two ready connections and one pending, traffic in two hours, two webhook outcomes, two workers."""
    ready = ConnectionFactory(status="ready")
    ConnectionFactory(status="ready")
    ConnectionFactory(status="pending")
    for n in range(3):
        _message(ready, Message.Direction.INBOUND, n)
    _message(ready, Message.Direction.OUTBOUND, 1)
    old = _message(ready, Message.Direction.OUTBOUND, 2)
    Message.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=30))
    endpoint = EndpointFactory(api_key=ready.api_key)
    for n in range(3):
        event_emit(api_key_id=endpoint.api_key_id, event_type="message.sent", data={"n": n})
    first, second, _third = WebhookDelivery.objects.order_by("pk")
    WebhookDelivery.objects.filter(pk=first.pk).update(status="delivered")
    WebhookDelivery.objects.filter(pk=second.pk).update(status="exhausted")
    now = timezone.now()
    WorkerNode.objects.create(
        name="sessions@a", hostname="a", pid=1, queues="sessions", session_count=2, last_heartbeat=now
    )
    WorkerNode.objects.create(
        name="gone@b", hostname="b", pid=2, queues="webhooks", last_heartbeat=now - timedelta(hours=1)
    )


def test_dashboard_figures_come_from_four_queries(busy_day, django_assert_num_queries):
    with django_assert_num_queries(4):
        board = dashboard_figures()
    assert [(value, count) for value, _label, count in board.connections_by_status] == [("pending", 1), ("ready", 2)]
    assert (board.messages_in, board.messages_out) == (3, 1), "the message from 30 h ago is outside the chart"
    assert len(board.hours) == 24 and board.hours[-1].inbound == 3 and board.hours[-1].inbound_height == 100
    assert (board.webhook_delivered, board.webhook_failed, board.webhook_backlog) == (1, 1, 1)
    assert board.webhook_success_rate == 50.0
    assert [worker.name for worker in board.workers] == ["sessions@a"] and board.sessions_hosted == 2


def test_admin_index_shows_the_dashboard(admin_client, busy_day):
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert 'data-testid="dashboard"' in page and "<svg" in page and "Messages per hour" in page
    assert 'data-testid="webhook-success-rate">50.0%' in page
    assert "sessions@a" in page and "gone@b" not in page
    assert "wildcat/admin.css" in page


def test_empty_dashboard_says_what_is_missing(admin_client):
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert "No connections yet" in page and "No worker has reported" in page


def test_duplicate_api_key_label_is_a_form_error(admin_client):
    ApiKeyFactory(label="crm")
    response = admin_client.post(reverse("admin:apikeys_apikey_add"), {"label": "crm"})
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert ApiKey.objects.filter(label="crm").count() == 1


def test_revoke_button_on_the_key_page(admin_client):
    api_key = ApiKeyFactory()
    page = admin_client.get(reverse("admin:apikeys_apikey_change", args=[api_key.pk])).content.decode()
    assert 'data-action="revoke"' in page
    admin_client.post(reverse("admin:apikeys_apikey_revoke", args=[api_key.pk]))
    api_key.refresh_from_db()
    assert api_key.status == "revoked" and api_key.revoked_at is not None


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("not a url", "scheme"),
        ("ftp://example.com/hook", "scheme"),
        ("http://10.1.2.3/hook", "not a public address"),
        ("http://localhost:8000/hook", "local name"),
        ("http://2130706433/hook", "non-canonical"),
    ],
)
def test_bad_webhook_urls_are_form_errors(admin_client, url, complaint):
    api_key = ApiKeyFactory()
    response = admin_client.post(reverse("admin:webhooks_webhookendpoint_add"), {"api_key": api_key.pk, "url": url})
    assert response.status_code == 200
    page = response.content.decode()
    assert "errorlist" in page and complaint in page
    assert not WebhookEndpoint.objects.exists()


def test_webhook_endpoint_for_another_keys_connection_is_a_form_error(admin_client):
    mine, theirs = ApiKeyFactory(), ConnectionFactory()
    data = {"api_key": mine.pk, "connection": theirs.pk, "url": "https://93.184.215.14/hook"}
    response = admin_client.post(reverse("admin:webhooks_webhookendpoint_add"), data)
    assert response.status_code == 200 and "belongs to another API key" in response.content.decode()


def test_new_webhook_endpoint_shows_its_secret_once(admin_client):
    api_key = ApiKeyFactory()
    data = {"api_key": api_key.pk, "url": "https://93.184.215.14/hook", "event_types": ["message.sent"]}
    response = admin_client.post(reverse("admin:webhooks_webhookendpoint_add"), data, follow=True)
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.event_types == ["message.sent"]
    assert endpoint.secret in response.content.decode() and 'data-testid="webhook-secret"' in response.content.decode()
    again = admin_client.get(reverse("admin:webhooks_webhookendpoint_change", args=[endpoint.pk])).content.decode()
    assert endpoint.secret not in again and "Send a test event" in again


def test_replay_since_checks_the_time_and_replays_failures(admin_client, settings):
    settings.WILDCAT_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    endpoint = EndpointFactory()
    delivery = event_emit(api_key_id=endpoint.api_key_id, event_type="message.sent", data={}).deliveries.get()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="exhausted")
    url = reverse("admin:webhooks_endpoint_replay", args=[endpoint.pk])
    future = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    for bad in [future, "yesterday"]:
        response = admin_client.post(url, {"since": bad})
        assert response.status_code == 200 and "errorlist" in response.content.decode()
    assert WebhookDelivery.objects.get(pk=delivery.pk).status == "exhausted"
    since = (timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    response = admin_client.post(url, {"since": since}, follow=True)
    assert "Replaying 1 failed deliveries" in response.content.decode()
    assert WebhookDelivery.objects.get(pk=delivery.pk).status == "pending"


def test_delivery_page_replays_one(admin_client):
    endpoint = EndpointFactory()
    delivery = event_emit(api_key_id=endpoint.api_key_id, event_type="message.sent", data={}).deliveries.get()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="failed", retry_step=3)
    page = admin_client.get(reverse("admin:webhooks_webhookdelivery_change", args=[delivery.pk])).content.decode()
    assert 'data-action="replay"' in page and "wc-badge--failed" in page
    admin_client.post(reverse("admin:webhooks_delivery_replay", args=[delivery.pk]))
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.retry_step == 0


def test_create_connection_and_start_it_lands_on_its_page(admin_client):
    api_key = ApiKeyFactory()
    data = {"api_key": api_key.pk, "name": "front-desk", "driver": "sandbox", "start": "on"}
    response = admin_client.post(reverse("admin:accounts_waconnection_add"), data)
    connection = WaConnection.objects.get(name="front-desk")
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:accounts_waconnection_change", args=[connection.pk])
    assert connection.desired_state == "running"


def test_duplicate_connection_name_is_a_form_error(admin_client):
    existing = ConnectionFactory(name="front-desk")
    data = {"api_key": existing.api_key_id, "name": "front-desk", "driver": "sandbox"}
    response = admin_client.post(reverse("admin:accounts_waconnection_add"), data)
    assert response.status_code == 200 and "errorlist" in response.content.decode()


@pytest.mark.parametrize("phone", ["+1555", "not a number", "+99912345678", ""])
def test_pairing_code_for_an_invalid_number_is_a_form_error(admin_client, phone):
    connection = ConnectionFactory(running=True)
    connections.connection_qr_issue(connection_id=connection.pk, qr="2@a,b,c,d", expires_in=60)
    response = admin_client.post(reverse("admin:accounts_waconnection_pair", args=[connection.pk]), {"phone": phone})
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="wc-pair-form"' in page and "errorlist" in page
    assert not SessionCommand.objects.filter(kind="pair_code").exists()


def test_a_bad_number_in_the_admin_forms_is_told_the_format_with_an_example(admin_client):
    connection = ConnectionFactory(running=True)
    connections.connection_qr_issue(connection_id=connection.pk, qr="2@a,b,c,d", expires_in=60)
    pair_url = reverse("admin:accounts_waconnection_pair", args=[connection.pk])
    send_url = reverse("admin:accounts_waconnection_send", args=[connection.pk])
    pair = admin_client.post(pair_url, {"phone": "0151 2345"})
    send = admin_client.post(send_url, {"to": "12", "text": "x"})
    for response in (pair, send):
        page = response.content.decode()
        assert response.status_code == 200 and "international format" in page and "e.g. +4915112345678" in page
        assert "plus-sign" not in page


def test_pairing_code_request_reaches_the_session_or_explains_why_not(admin_client):
    stopped = ConnectionFactory()
    url = reverse("admin:accounts_waconnection_pair", args=[stopped.pk])
    refused = admin_client.post(url, {"phone": "+4915112345678"})
    assert refused.status_code == 200 and "Start the connection first" in refused.content.decode()
    running = ConnectionFactory(running=True)
    response = admin_client.post(
        reverse("admin:accounts_waconnection_pair", args=[running.pk]), {"phone": "+49 151 12345678"}
    )
    assert response.status_code == 302
    assert SessionCommand.objects.get(connection=running, kind="pair_code").payload == {"phone": "+4915112345678"}


def test_test_message_form_checks_input_and_queues_through_the_service(admin_client):
    never_linked = ConnectionFactory()
    url = reverse("admin:accounts_waconnection_send", args=[never_linked.pk])
    bad_number = admin_client.post(url, {"to": "+1555", "text": "hi"})
    assert bad_number.status_code == 200 and "Not a" in bad_number.content.decode()
    not_linked = admin_client.post(url, {"to": "+4915112345678", "text": "hi"})
    assert not_linked.status_code == 200 and "never been linked" in not_linked.content.decode()
    assert admin_client.post(url, {"to": "+4915112345678", "text": "  "}).status_code == 200
    assert not Message.objects.exists()
    ready = ConnectionFactory(status="ready", authenticated_at=timezone.now(), whatsapp_id="15550001@s.whatsapp.net")
    response = admin_client.post(
        reverse("admin:accounts_waconnection_send", args=[ready.pk]), {"to": "+4915112345678", "text": "hi"}
    )
    assert response.status_code == 302
    message = Message.objects.get()
    assert (message.connection_id, message.chat_jid, message.status) == (
        ready.pk,
        "4915112345678@s.whatsapp.net",
        "queued",
    )


def test_live_view_reports_actions_and_timeline_icons(admin_client):
    connection = ConnectionFactory(running=True)
    connections.connection_qr_issue(connection_id=connection.pk, qr="2@a,b,c,d", expires_in=60)
    live = admin_client.get(reverse("admin:accounts_waconnection_live", args=[connection.pk])).json()
    assert live["actions"] == {
        "start": False,
        "stop": True,
        "restart": True,
        "logout": False,
        "scan": True,
        "pair_code": True,
    }
    newest = live["events"][0]
    assert (newest["kind_code"], newest["icon"], newest["title"]) == ("qr", "qr", "QR issued")
    assert live["events"][1]["icon"] == "qr" and live["events"][1]["title"] == "Pending (QR shown)"
    page = admin_client.get(reverse("admin:accounts_waconnection_change", args=[connection.pk])).content.decode()
    assert 'href="#wc-i-qr"' in page and 'data-action="start" disabled' in page
