"""A small, lived-in console for the layout tests: a key, a ready connection, messages, an endpoint and deliveries."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from accounts.models import ConnectionEvent, WaConnection
from apikeys.models import ApiKey
from messaging.models import Message
from tests.accounts.factories import ConnectionEventFactory, ConnectionFactory, SessionCommandFactory
from tests.apikeys.factories import ApiKeyFactory
from tests.webhooks.factories import EndpointFactory
from webhooks.models import DeliveryAttempt, WebhookDelivery, WebhookEvent
from wildcat.models import WorkerNode

# Long values on purpose: the columns that used to be cut off sit to the right of these.
LONG_TEXT = "Hello! Your order #48213 has shipped and will arrive on Thursday between 9:00 and 12:00. " * 2
LONG_URL = "https://receiver.integrations.example.com/hooks/wildcat/production/whatsapp-events?tenant=acme-42"
CREATED_AT = dt.datetime(2026, 11, 30, 14, 5, 37, tzinfo=dt.UTC)


def _message(key: ApiKey, connection: WaConnection, n: int, **fields) -> Message:
    base = {
        "api_key": key,
        "connection": connection,
        "direction": Message.Direction.INBOUND,
        "wa_message_id": f"3EB0{n:016X}",
        "chat_jid": f"4915112345{n:03d}@s.whatsapp.net",
        "type": "text",
        "text": LONG_TEXT,
        "status": Message.Status.DELIVERED,
    }
    message = Message.objects.create(**{**base, **fields})
    Message.objects.filter(pk=message.pk).update(created_at=CREATED_AT + dt.timedelta(seconds=n))
    return message


def build_console_world() -> dict[str, object]:
    """Rows in every console list, with the longest values an operator is likely to see."""
    key = ApiKeyFactory(label="crm-integration-production-eu-west", usage_count=123456, last_used_at=timezone.now())
    connection = ConnectionFactory(
        api_key=key,
        name="front-desk-reception-berlin-mitte",
        status=WaConnection.Status.READY,
        phone_number="+4915112345678",
        last_seen=timezone.now(),
    )
    ConnectionEventFactory(connection=connection, kind=ConnectionEvent.Kind.STATE, to_status="ready")
    SessionCommandFactory(connection=connection)
    messages = [_message(key, connection, n) for n in range(3)]
    messages.append(
        _message(key, connection, 9, direction=Message.Direction.OUTBOUND, from_me=True, status=Message.Status.FAILED)
    )
    endpoint = EndpointFactory(api_key=key, url=LONG_URL, last_failure_reason="HTTP 500 from the receiver")
    for n, status in enumerate(["delivered", "failed", "exhausted"]):
        event = WebhookEvent.objects.create(
            api_key=key, connection_id=connection.pk, type="message.received", body="{}"
        )
        delivery = WebhookDelivery.objects.create(
            event=event,
            endpoint=endpoint,
            message_id=f"msg_2c9f1d7a0b4e4f6e9a1b{n:012d}",
            status=status,
            attempt_count=3,
            last_status_code=500 if status != "delivered" else 200,
            next_attempt_at=timezone.now(),
        )
        DeliveryAttempt.objects.create(delivery=delivery, number=1, started_at=timezone.now(), status_code=500)
    WorkerNode.objects.create(
        name="sessions@wildcat-worker-production-eu-west-1a.internal",
        hostname="wildcat-worker-production-eu-west-1a.internal",
        pid=123456,
        queues="sessions",
        session_count=48,
        last_heartbeat=timezone.now(),
    )
    return {"key": key, "connection": connection, "messages": messages, "endpoint": endpoint}
