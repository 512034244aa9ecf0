"""Every event the system emits validates against the schema it publishes for that type, however it was produced.

A receiver that validates `data` against GET /webhooks/event-types must never reject a real event.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from accounts import services as connections
from messaging import services as messaging
from messaging.inbound import message_receive
from messaging.models import Message
from messaging.outbox import outbox_process
from tests.accounts.factories import ConnectionFactory
from tests.apikeys.factories import ApiKeyFactory
from tests.messaging.samples import PNG
from tests.support.inprocess_host import InProcessHost, lease_for_the_test, sandbox_link
from tests.support.processes import wait_until
from tests.webhooks.factories import EndpointFactory
from webhooks.catalog import catalogue
from webhooks.models import WebhookEvent
from webhooks.services import endpoint_send_test
from wildcat.event_types import ALL_TYPES
from wildcat.whatsapp import AccountInfo, DriverError, InboundMessage, MediaPayload, MessageType

pytestmark = pytest.mark.django_db(transaction=True)
PEER_JID = "4915123456789@s.whatsapp.net"
_ids = iter(range(1, 10_000))


def _checker() -> FormatChecker:
    checker = FormatChecker()

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value: object) -> bool:
        return not isinstance(value, str) or datetime.fromisoformat(value).tzinfo is not None

    return checker


def _inbound(**fields) -> InboundMessage:
    values = {
        "wa_message_id": f"IN{next(_ids)}",
        "chat_jid": PEER_JID,
        "sender_jid": PEER_JID,
        "from_me": False,
        "is_group": False,
        "type": MessageType.TEXT,
        "timestamp": datetime.now(UTC),
        "text": "hello",
    }
    return InboundMessage(**{**values, **fields})


def produce_connection_events(api_key) -> None:
    account = AccountInfo(whatsapp_id="4915100000001:1@s.whatsapp.net", phone_number="4915100000001")
    linked = connections.connection_create(api_key_id=api_key.pk, name="linked")
    connections.connection_start(connection=linked)
    connections.connection_qr_issue(connection_id=linked.pk, qr="2@first", expires_in=60)
    for status in ("authenticated", "ready", "disconnected", "ready", "logged_out"):
        connections.connection_transition(connection_id=linked.pk, to_status=status, account=account, reason="t")
    refused = connections.connection_create(api_key_id=api_key.pk, name="refused")
    connections.connection_start(connection=refused)
    connections.connection_qr_issue(connection_id=refused.pk, qr="2@second", expires_in=60)
    connections.connection_transition(connection_id=refused.pk, to_status="auth_failed", error="401")


class RefusingNetwork:
    """The sandbox network refusing every send for good, as WhatsApp does for a bad recipient."""

    sends_with_our_ids = True

    def send_message(self, message):
        raise DriverError("invalid_recipient", "not on WhatsApp", permanent=True)


def produce_outbound_events(connection) -> None:
    """Sends, receipts, edit and revoke through the production session host; then a cancel and a refusal."""
    sandbox_link(connection.pk)
    lease_for_the_test(connection.pk)
    request = messaging.SendRequest(chat_jid=PEER_JID, type="text", text="to be edited")
    with InProcessHost(connection.pk) as host:
        wait_until(lambda: host.ready(connection.pk), timeout=30, message="the hosted session is online")
        sent = messaging.message_send(api_key_id=connection.api_key_id, connection_id=connection.pk, request=request)
        image = messaging.SendRequest(chat_jid=PEER_JID, type="image", media_bytes=PNG, text="a picture")
        messaging.message_send(api_key_id=connection.api_key_id, connection_id=connection.pk, request=image)
        host.wake(connection.pk)
        text_id = sent[0]["id"]
        wait_until(  # message.sent, then the recipient's message.delivered and message.read
            lambda: Message.objects.get(pk=text_id).status == "read", timeout=30, message="the text is read"
        )
        messaging.message_edit(message=Message.objects.get(pk=text_id), text="edited")  # change edited, by api
        messaging.message_revoke(message=Message.objects.get(pk=text_id))  # change revoked, by api
        assert not host.failures()
    # No session runs now: a queued send is cancelled, and one the network refuses fails.
    queued = messaging.SendRequest(chat_jid=PEER_JID, type="text", text="cancel me")
    body, _ = messaging.message_send(api_key_id=connection.api_key_id, connection_id=connection.pk, request=queued)
    messaging.message_revoke(message=Message.objects.get(pk=body["id"]))  # message.failed (cancelled)
    messaging.message_send(api_key_id=connection.api_key_id, connection_id=connection.pk, request=request)
    outbox_process(connection_id=connection.pk, port=RefusingNetwork())  # message.failed (refused)


def produce_inbound_events(connection) -> None:
    receive = message_receive
    original = receive(connection_id=connection.pk, message=_inbound(push_name="Ada"))
    receive(connection_id=connection.pk, message=_inbound(type=MessageType.IMAGE, media=MediaPayload(PNG, "image/png")))
    receive(connection_id=connection.pk, message=_inbound(from_me=True, text="from the phone"))
    big = MediaPayload(b"x" * 64, "application/pdf", "big.pdf")
    receive(connection_id=connection.pk, message=_inbound(type=MessageType.DOCUMENT, media=big))
    receive(connection_id=connection.pk, message=_inbound(quoted_wa_message_id=original.wa_message_id, text="re"))
    target = original.wa_message_id
    receive(connection_id=connection.pk, message=_inbound(edits_wa_message_id=target, text="hello!"))
    receive(connection_id=connection.pk, message=_inbound(reacts_to_wa_message_id=target, content={"emoji": "👍"}))
    receive(connection_id=connection.pk, message=_inbound(reacts_to_wa_message_id=target, content={"emoji": ""}))
    receive(connection_id=connection.pk, message=_inbound(revokes_wa_message_id=target, text=""))


@pytest.fixture
def emitted(settings) -> list[WebhookEvent]:
    settings.WILDCAT_SEND_RATE_PER_MINUTE = 0
    settings.WILDCAT_SESSION_CALL_TIMEOUT = 20
    settings.WILDCAT_MAX_MEDIA_BYTES = 32  # the document above is too large: stored with content.media_error
    api_key = ApiKeyFactory()
    endpoint = EndpointFactory(api_key=api_key)
    produce_connection_events(api_key)
    produce_inbound_events(ConnectionFactory(api_key=api_key, ready=True))
    settings.WILDCAT_MAX_MEDIA_BYTES = 10 * 1024 * 1024
    produce_outbound_events(ConnectionFactory(api_key=api_key, ready=True, name="sender"))
    endpoint_send_test(endpoint=endpoint)
    return list(WebhookEvent.objects.order_by("pk"))


def test_every_emitted_event_matches_its_published_data_schema(emitted):
    schemas = {entry["type"]: entry["data_schema"] for entry in catalogue()}
    assert {event.type for event in emitted} == ALL_TYPES, "every event type was produced at least once"
    changes, updated = set(), None
    for event in emitted:
        data = json.loads(event.body)["data"]
        validator = Draft202012Validator(schemas[event.type], format_checker=_checker())
        errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(data)]
        assert not errors, f"{event.type} does not match its published schema: {errors}"
        if event.type == "message.updated":
            changes.add((data["change"], data["by"] == "api"))
            updated = data
    assert changes == {("edited", True), ("revoked", True), ("edited", False), ("revoked", False), ("reaction", False)}
    failures = {json.loads(e.body)["data"]["error"]["code"] for e in emitted if e.type == "message.failed"}
    assert failures == {"cancelled", "invalid_recipient"}
    # The schemas are tight enough to refuse what is not a real event, so the checks above mean something.
    validator = Draft202012Validator(schemas["message.updated"], format_checker=_checker())
    assert not validator.is_valid({**updated, "change": "edit"})
    assert not validator.is_valid({**updated, "edited_at": "2026-01-01 10:00"})
