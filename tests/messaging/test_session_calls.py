"""Calls that need the live session (edit, revoke, read, presence, contacts, groups) through session commands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from accounts.models import SandboxDelivery
from messaging.inbound import message_receive
from messaging.models import Message
from tests.accounts.factories import ConnectionFactory
from tests.support.inprocess_host import InProcessHost, lease_for_the_test, sandbox_link
from tests.support.processes import wait_until
from wildcat.whatsapp import InboundMessage, MessageType

pytestmark = pytest.mark.django_db(transaction=True)
PEER = "+4915123456789"
PEER_JID = "4915123456789@s.whatsapp.net"


class LivePhone:
    """A ready sandbox connection whose session runs in the production session host."""

    def __init__(self, connection, host: InProcessHost) -> None:
        self.connection = connection
        self.host = host

    def deliveries(self):
        return SandboxDelivery.objects.filter(connection_id=self.connection.pk)


@pytest.fixture
def live_phone(connection, settings):
    settings.WILDCAT_SEND_RATE_PER_MINUTE = 0
    settings.WILDCAT_SESSION_CALL_TIMEOUT = 20
    settings.WILDCAT_SANDBOX_CONNECT_SECONDS = 0.05
    sandbox_link(connection.pk)
    lease_for_the_test(connection.pk)
    with InProcessHost(connection.pk) as host:
        wait_until(lambda: host.ready(connection.pk), timeout=30, message="the hosted session is online")
        yield LivePhone(connection, host)
        assert not host.failures()


def _sent_text(api_client, phone, text="original") -> dict:
    response = api_client.post(f"/api/v1/connections/{phone.connection.pk}/messages", {"to": PEER, "text": text})
    assert response.status_code == 202
    sent = response.json()
    phone.host.wake(phone.connection.pk)  # what the supervisor does on the message's wake-up
    wait_until(
        lambda: Message.objects.filter(pk=sent["id"], sent_at__isnull=False).exists(),
        timeout=30,
        message="the host's outbox sends the message",
    )
    return sent


def test_edit_and_revoke_reach_the_recipient(api_client, live_phone):
    sent = _sent_text(api_client, live_phone)
    edited = api_client.patch(f"/api/v1/messages/{sent['id']}", {"text": "fixed"}, format="json")
    assert edited.status_code == 200, edited.content
    assert edited.json()["text"] == "fixed" and edited.json()["edited_at"]
    delivery = live_phone.deliveries().get(wa_message_id=sent["wa_message_id"])
    assert delivery.edited_text == "fixed"
    revoked = api_client.delete(f"/api/v1/messages/{sent['id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    delivery.refresh_from_db()
    assert delivery.revoked
    again = api_client.patch(f"/api/v1/messages/{sent['id']}", {"text": "too late"}, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "message_not_editable"


def test_an_edit_after_the_edit_window_is_refused_and_never_reaches_the_recipient(api_client, live_phone):
    sent = _sent_text(api_client, live_phone)
    # Phones apply an edit only for 15 minutes after the send.
    Message.objects.filter(pk=sent["id"]).update(sent_at=timezone.now() - timedelta(minutes=16))
    late = api_client.patch(f"/api/v1/messages/{sent['id']}", {"text": "fixed"}, format="json")
    assert late.status_code == 409 and late.json()["error"]["code"] == "message_not_editable"
    assert "15 minutes" in late.json()["error"]["message"]
    assert live_phone.deliveries().get(wa_message_id=sent["wa_message_id"]).edited_text == ""
    assert Message.objects.get(pk=sent["id"]).edited_at is None
    Message.objects.filter(pk=sent["id"]).update(sent_at=timezone.now() - timedelta(minutes=14))
    assert api_client.patch(f"/api/v1/messages/{sent['id']}", {"text": "fixed"}, format="json").status_code == 200


def test_revoking_a_queued_message_cancels_it(api_client, connection):
    created = api_client.post(f"/api/v1/connections/{connection.pk}/messages", {"to": PEER, "text": "oops"}).json()
    response = api_client.delete(f"/api/v1/messages/{created['id']}")
    assert response.status_code == 200
    assert response.json()["status"] == "failed" and response.json()["error"]["code"] == "cancelled"


def test_mark_chat_read_presence_contacts_and_groups(api_client, live_phone):
    connection = live_phone.connection
    now = datetime.now(UTC)
    message_receive(
        connection_id=connection.pk,
        message=InboundMessage("IN1", PEER_JID, PEER_JID, False, False, MessageType.TEXT, now, text="hi"),
    )
    base = f"/api/v1/connections/{connection.pk}"
    read = api_client.post(f"{base}/chats/{PEER_JID}/read")
    assert read.status_code == 200 and read.json()["marked"] == 1
    assert Message.objects.get(wa_message_id="IN1").status == "read"
    assert api_client.post(f"{base}/chats/{PEER_JID}/presence", {"state": "typing"}, format="json").status_code == 200
    bad = api_client.post(f"{base}/chats/{PEER_JID}/presence", {"state": "dancing"}, format="json")
    assert bad.status_code == 400
    check = api_client.post(f"{base}/contacts/check", {"numbers": [PEER, "nonsense"]}, format="json")
    assert check.status_code == 200, check.content
    results = {row["number"]: row for row in check.json()["results"]}
    assert results["4915123456789"]["on_whatsapp"] is True and results["nonsense"]["valid"] is False
    groups = api_client.get(f"{base}/groups")
    assert groups.status_code == 200 and len(groups.json()["results"]) == 2
    jid = groups.json()["results"][0]["jid"]
    group = api_client.get(f"{base}/groups/{jid}")
    assert group.status_code == 200 and group.json()["participants"]
    missing = api_client.get(f"{base}/groups/120363999999999999@g.us")
    assert missing.status_code == 502 and missing.json()["error"]["code"] == "session_error"


def test_session_calls_on_a_connection_that_is_not_ready_are_409(api_client, api_key):
    connection = ConnectionFactory(api_key=api_key, ready=True, status="disconnected")
    response = api_client.get(f"/api/v1/connections/{connection.pk}/groups")
    assert response.status_code == 409 and response.json()["error"]["code"] == "connection_not_ready"


@pytest.mark.parametrize(
    ("fields", "next_step"),
    [
        ({"status": "disconnected", "desired_state": "running"}, "reconnects by itself"),
        ({"status": "disconnected", "desired_state": "stopped"}, "/start); it resumes without a new scan"),
        ({"status": "pending", "desired_state": "running", "authenticated_at": None}, "/qr) or request a pairing"),
        ({"status": "logged_out", "desired_state": "stopped"}, "/start), then scan its QR code"),
    ],
)
def test_a_session_call_that_is_not_ready_says_the_next_step(api_client, api_key, fields, next_step):
    connection = ConnectionFactory(api_key=api_key, ready=True, **fields)
    response = api_client.get(f"/api/v1/connections/{connection.pk}/groups")
    assert response.status_code == 409 and response.json()["error"]["code"] == "connection_not_ready"
    assert next_step in response.json()["error"]["message"]


def test_no_session_answering_in_time_is_504(api_client, connection, settings):
    settings.WILDCAT_SESSION_CALL_TIMEOUT = 0.3
    response = api_client.get(f"/api/v1/connections/{connection.pk}/groups")
    assert response.status_code == 504 and response.json()["error"]["code"] == "session_timeout"
