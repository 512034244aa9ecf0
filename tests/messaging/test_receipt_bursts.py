"""Receipts in bulk: the sandbox reports one receipt per chat and type, the sink applies a burst together."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from accounts.models import SandboxDelivery, WaConnection
from accounts.runtime import event_sink
from accounts.runtime.event_sink import handle_driver_events
from messaging.models import Message
from messaging.services import SendRequest, message_send
from wildcat.whatsapp import DriverEvent, DriverEventType, Receipt, ReceiptType

pytestmark = pytest.mark.django_db
CHAT_A = "4915123456781@s.whatsapp.net"
CHAT_B = "4915123456782@s.whatsapp.net"


def queue(connection, chat: str, text: str) -> Message:
    body, _ = message_send(
        api_key_id=connection.api_key_id,
        connection_id=connection.pk,
        request=SendRequest(chat_jid=chat, type="text", text=text),
    )
    return Message.objects.get(pk=body["id"])


def test_the_sandbox_reports_one_receipt_per_chat_and_type(phone):
    messages = [queue(phone.connection, CHAT_A if i < 3 else CHAT_B, f"m{i}") for i in range(5)]
    assert phone.process() == 5
    phone.driver.tick(time.monotonic() + 3600)
    receipts = [(e.receipt.chat_jid, e.receipt.type, e.receipt.wa_message_ids) for e in phone.events if e.receipt]
    ids = [m.wa_message_id for m in messages]
    assert sorted(receipts) == sorted(
        [
            (CHAT_A, ReceiptType.DELIVERED, tuple(ids[:3])),
            (CHAT_A, ReceiptType.READ, tuple(ids[:3])),
            (CHAT_B, ReceiptType.DELIVERED, tuple(ids[3:])),
            (CHAT_B, ReceiptType.READ, tuple(ids[3:])),
        ]
    )
    assert SandboxDelivery.objects.filter(connection_id=phone.connection.pk, read=True).count() == 5
    phone.driver.tick(time.monotonic() + 7200)
    assert len([e for e in phone.events if e.receipt]) == 4, "each receipt is reported once"


def test_a_burst_of_receipts_and_keepalives_is_applied_in_order_and_skips_gone_connections(phone, api_key):
    messages = [queue(phone.connection, CHAT_A, f"m{i}") for i in range(4)]
    assert phone.process() == 4
    ids = tuple(m.wa_message_id for m in messages)
    now = timezone.now()
    gone = 987654321
    burst = [
        (
            phone.connection.pk,
            DriverEvent(type=DriverEventType.RECEIPT, receipt=Receipt(ids, CHAT_A, "delivered", now)),
        ),
        (gone, DriverEvent(type=DriverEventType.RECEIPT, receipt=Receipt(ids, CHAT_A, "read", now))),
        (phone.connection.pk, DriverEvent(type=DriverEventType.KEEPALIVE)),
        (phone.connection.pk, DriverEvent(type=DriverEventType.DISCONNECTED, reason="connection_lost")),
        (phone.connection.pk, DriverEvent(type=DriverEventType.RECEIPT, receipt=Receipt(ids[:2], CHAT_A, "read", now))),
        (phone.connection.pk, DriverEvent(type=DriverEventType.RECEIPT, receipt=Receipt(ids[:2], CHAT_A, "read", now))),
    ]
    handle_driver_events(burst)
    statuses = dict(Message.objects.filter(pk__in=[m.pk for m in messages]).values_list("wa_message_id", "status"))
    assert statuses == {ids[0]: "read", ids[1]: "read", ids[2]: "delivered", ids[3]: "delivered"}
    connection = WaConnection.objects.get(pk=phone.connection.pk)
    assert connection.status == WaConnection.Status.DISCONNECTED, "the state event in the middle still applies"
    assert connection.last_activity_at is not None and connection.last_activity_at >= now


def test_a_receipt_that_fails_does_not_undo_the_rest_of_its_burst(phone, monkeypatch):
    messages = [queue(phone.connection, CHAT_A, "a"), queue(phone.connection, CHAT_B, "b")]
    assert phone.process() == 2
    real = event_sink.message_apply_receipt

    def failing_for_chat_b(*, connection_id, receipt):
        real(connection_id=connection_id, receipt=receipt)
        if receipt.chat_jid == CHAT_B:
            raise RuntimeError("a bug while applying this receipt")

    # The sink's own reference: a bug inside applying one receipt, after it has written.
    monkeypatch.setattr(event_sink, "message_apply_receipt", failing_for_chat_b)
    now = timezone.now()
    handle_driver_events(
        [
            (
                phone.connection.pk,
                DriverEvent(type=DriverEventType.RECEIPT, receipt=Receipt((m.wa_message_id,), m.chat_jid, "read", now)),
            )
            for m in messages
        ]
    )
    statuses = dict(Message.objects.filter(pk__in=[m.pk for m in messages]).values_list("chat_jid", "status"))
    assert statuses == {CHAT_A: "read", CHAT_B: "sent"}
