"""Revoking a key cuts every flow of its data at once: webhooks, sessions and queued sends; the admin shows it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from accounts.models import SandboxCredential, WaConnection
from apikeys.models import ApiKey
from apikeys.selectors import apikey_revocation_cut
from apikeys.services import apikey_revoke
from messaging import services as messaging
from messaging.inbound import message_receive
from messaging.models import Message
from tests.apikeys.factories import ApiKeyFactory
from tests.messaging.conftest import SandboxPhone, make_connection
from tests.support.http_receiver import receiving
from tests.webhooks.factories import EndpointFactory
from webhooks import drain
from webhooks.models import WebhookDelivery, WebhookEndpoint
from wildcat.whatsapp import InboundMessage, MessageType

pytestmark = pytest.mark.django_db
PEER_JID = "4915123456789@s.whatsapp.net"


@pytest.fixture(autouse=True)
def _fast(settings, tmp_path):
    settings.WILDCAT_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.WILDCAT_WEBHOOK_TIMEOUT = 2.0
    settings.WILDCAT_SEND_RATE_PER_MINUTE = 0
    settings.MEDIA_ROOT = str(tmp_path / "media")


def _inbound(wa_message_id: str) -> InboundMessage:
    return InboundMessage(
        wa_message_id=wa_message_id,
        chat_jid=PEER_JID,
        sender_jid=PEER_JID,
        from_me=False,
        is_group=False,
        type=MessageType.TEXT,
        timestamp=datetime.now(UTC),
        text="hello",
    )


class Tenant:
    """A key with a running sandbox connection, stored credentials and an endpoint on the receiver."""

    def __init__(self, receiver_url: str, name: str) -> None:
        self.api_key = ApiKeyFactory()
        self.endpoint = EndpointFactory(api_key=self.api_key, url=f"{receiver_url}/{name}")
        connection = make_connection(self.api_key, name=name, desired_state=WaConnection.DesiredState.RUNNING)
        self.phone = SandboxPhone(connection)
        assert SandboxCredential.objects.filter(connection=connection).exists(), "the scan stored credentials"
        self.connection = connection

    def queue(self, count: int) -> list[int]:
        request = messaging.SendRequest(chat_jid=PEER_JID, type="text", text="queued")
        return [
            messaging.message_send(api_key_id=self.api_key.pk, connection_id=self.connection.pk, request=request)[0][
                "id"
            ]
            for _ in range(count)
        ]

    def traffic(self, tag: str) -> None:
        """What a live session produces: an inbound message, the outbox's sends and their receipts."""
        message_receive(connection_id=self.connection.pk, message=_inbound(f"IN{tag}{self.connection.pk}"))
        self.phone.process()
        self.phone.deliver_receipts()


def test_after_revocation_nothing_of_the_key_reaches_its_endpoints(settings):
    with receiving() as receiver:
        revoked, other = Tenant(receiver.url, "revoked"), Tenant(receiver.url, "other")
        for tenant in (revoked, other):
            tenant.traffic("before")  # events with deliveries still pending at revocation
        queued = revoked.queue(3)
        other_queued = other.queue(1)

        apikey_revoke(api_key=revoked.api_key)

        for tenant in (revoked, other):
            tenant.traffic("after")  # the session had not stopped yet: it still stores what arrives
        while drain.deliveries_drain(budget=30)[1]:
            pass
        paths = [request.path for request in receiver.requests]
    assert "/other" in paths, "the other key's events are delivered: the drain ran"
    assert "/revoked" not in paths, "nothing of the revoked key's connections reached its endpoint"
    endpoint = WebhookEndpoint.objects.get(pk=revoked.endpoint.pk)
    assert not endpoint.enabled and endpoint.disabled_reason == "key_revoked"
    assert not WebhookDelivery.objects.filter(endpoint=endpoint, status=WebhookDelivery.Status.DELIVERED).exists()
    connection = WaConnection.objects.get(pk=revoked.connection.pk)
    assert connection.desired_state == WaConnection.DesiredState.STOPPED and connection.status == "disconnected"
    assert SandboxCredential.objects.filter(connection=connection).exists(), "credentials kept for a resume"
    failed = Message.objects.filter(pk__in=queued)
    assert {(m.status, m.error_code) for m in failed} == {("failed", "key_revoked")}
    assert not revoked.phone.deliveries().filter(wa_message_id__in=[m.wa_message_id for m in failed]).exists()
    assert Message.objects.get(pk=other_queued[0]).status in {"sent", "delivered", "read"}
    assert WaConnection.objects.get(pk=other.connection.pk).desired_state == WaConnection.DesiredState.RUNNING
    cut = apikey_revocation_cut(api_key=ApiKey.objects.get(pk=revoked.api_key.pk))
    assert cut == {"webhook_endpoints": [endpoint.pk], "connections": [connection.pk], "queued_messages": 3}


def test_the_admin_shows_what_a_revocation_cut(admin_client):
    api_key = ApiKeyFactory()
    endpoint = EndpointFactory(api_key=api_key)
    connection = make_connection(api_key, desired_state=WaConnection.DesiredState.RUNNING)
    response = admin_client.post(reverse("admin:apikeys_apikey_revoke", args=[api_key.pk]), follow=True)
    text = response.content.decode()
    assert "was revoked: 1 webhook endpoint(s) disabled" in text
    assert f"1 connection(s) stopped with their credentials kept (#{connection.pk})" in text
    assert f"(#{endpoint.pk})" in text and "0 queued message(s) failed" in text
    page = admin_client.get(reverse("admin:apikeys_apikey_change", args=[api_key.pk])).content.decode()
    assert "Cut when revoked" in page and f"(#{connection.pk})" in page
