"""Admin: endpoint health, re-enabling, deliveries with status filters, the attempt log and replay."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.support.http_receiver import Reply, always, receiving
from tests.webhooks.factories import EndpointFactory
from webhooks.drain import deliveries_drain
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.services import endpoint_disable, event_emit

pytestmark = pytest.mark.django_db


def _delivered_and_failed(receiver_url: str):
    endpoint = EndpointFactory(url=receiver_url)
    good = event_emit(api_key_id=endpoint.api_key_id, event_type="message.sent", data={"n": 1}).deliveries.get()
    deliveries_drain(ids=[good.pk])
    bad = event_emit(api_key_id=endpoint.api_key_id, event_type="message.read", data={"n": 2}).deliveries.get()
    WebhookDelivery.objects.filter(pk=bad.pk).update(status=WebhookDelivery.Status.EXHAUSTED)
    return endpoint, good, bad


def test_endpoint_list_shows_health_and_re_enable_works(admin_client):
    with receiving(always(Reply(body=b"fine"))) as receiver:
        endpoint, _good, _bad = _delivered_and_failed(receiver.url)
    endpoint_disable(endpoint_id=endpoint.pk, reason="The receiver answered 410 Gone.")
    page = admin_client.get(reverse("admin:webhooks_webhookendpoint_changelist"))
    assert page.status_code == 200
    assert b"50% of 2" in page.content and b"410 Gone" in page.content
    admin_client.post(
        reverse("admin:webhooks_webhookendpoint_changelist"),
        {"action": "enable_selected", "_selected_action": [endpoint.pk]},
    )
    endpoint.refresh_from_db()
    assert endpoint.enabled and endpoint.disabled_reason == ""
    assert admin_client.get(reverse("admin:webhooks_webhookendpoint_change", args=[endpoint.pk])).status_code == 200


def test_deliveries_filter_by_status_show_attempts_and_replay(admin_client):
    with receiving(always(Reply(body=b"receiver-said-this"))) as receiver:
        _endpoint, good, bad = _delivered_and_failed(receiver.url)
    changelist = reverse("admin:webhooks_webhookdelivery_changelist")
    exhausted = admin_client.get(changelist, {"status__exact": "exhausted"})
    assert bad.message_id.encode() in exhausted.content and good.message_id.encode() not in exhausted.content
    detail = admin_client.get(reverse("admin:webhooks_webhookdelivery_change", args=[good.pk]))
    assert b"receiver-said-this" in detail.content and b"message.sent" in detail.content
    admin_client.post(changelist, {"action": "replay_selected", "_selected_action": [bad.pk]})
    bad.refresh_from_db()
    assert bad.status == WebhookDelivery.Status.PENDING


def test_replay_skips_deliveries_of_disabled_endpoints(admin_client):
    with receiving() as receiver:
        endpoint, _good, bad = _delivered_and_failed(receiver.url)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(enabled=False)
    admin_client.post(
        reverse("admin:webhooks_webhookdelivery_changelist"),
        {"action": "replay_selected", "_selected_action": [bad.pk]},
    )
    bad.refresh_from_db()
    assert bad.status == WebhookDelivery.Status.EXHAUSTED
