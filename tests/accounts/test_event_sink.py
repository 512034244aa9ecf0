"""The runtime's event sink: every driver event type becomes the right service call, idempotently."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

import pytest
from django.db import connection as database
from django.db import transaction
from django.test.utils import CaptureQueriesContext

from accounts.models import ConnectionEvent, WaConnection
from accounts.runtime.event_sink import handle_driver_event, handle_driver_events
from messaging.models import Message
from tests.accounts.factories import ConnectionFactory
from webhooks.models import WebhookEndpoint, WebhookEvent
from wildcat.whatsapp import (
    AccountInfo,
    DriverEvent,
    DriverEventType,
    InboundMessage,
    MessageType,
    Receipt,
    ReceiptType,
)

pytestmark = pytest.mark.django_db
ACCOUNT = AccountInfo(whatsapp_id="4915112345678:3@s.whatsapp.net", phone_number="+4915112345678", profile_name="Ann")


@pytest.fixture
def connection():
    connection = ConnectionFactory(running=True)
    WebhookEndpoint.objects.create(api_key=connection.api_key, url="https://hooks.example.com/in", secret="whsec_x")
    return connection


def _send(connection, event_type, **fields) -> WaConnection:
    handle_driver_event(connection_id=connection.pk, event=DriverEvent(type=event_type, **fields))
    return WaConnection.objects.get(pk=connection.pk)


def _webhook_types(connection) -> list[str]:
    return list(WebhookEvent.objects.filter(connection_id=connection.pk).order_by("id").values_list("type", flat=True))


def test_qr_then_paired_then_connected(connection):
    qr = "2@abc,def,ghi,jkl"
    after_qr = _send(connection, DriverEventType.QR, qr=qr, detail={"expires_in": 60})
    assert after_qr.status == "pending" and after_qr.last_qr == qr
    assert 59 <= (after_qr.qr_expires_at - after_qr.last_qr_at).total_seconds() <= 60.01
    # The same QR again is harmless: no second timeline row, no second webhook.
    _send(connection, DriverEventType.QR, qr=qr, detail={"expires_in": 60})
    assert ConnectionEvent.objects.filter(connection=connection, kind="qr").count() == 1
    paired = _send(connection, DriverEventType.PAIRED, account=ACCOUNT)
    assert paired.status == "authenticated" and paired.authenticated_at is not None
    assert (paired.phone_number, paired.whatsapp_id, paired.profile_name) == (
        "+4915112345678",
        ACCOUNT.whatsapp_id,
        "Ann",
    )
    assert paired.last_qr == "" and paired.qr_expires_at is None
    ready = _send(connection, DriverEventType.CONNECTED, account=ACCOUNT)
    _send(connection, DriverEventType.CONNECTED, account=ACCOUNT)
    assert ready.status == "ready" and ready.ready_at is not None
    assert _webhook_types(connection) == ["connection.qr", "connection.authenticated", "connection.ready"]
    states = ConnectionEvent.objects.filter(connection=connection, kind="state").order_by("id")
    assert [(e.from_status, e.to_status) for e in states][-3:] == [
        ("not_started", "pending"),
        ("pending", "authenticated"),
        ("authenticated", "ready"),
    ]
    qr_hook = WebhookEvent.objects.get(type="connection.qr").payload
    assert qr_hook["data"]["qr"] == qr and qr_hook["data"]["connection"]["status"] == "pending"


def _ready(connection) -> None:
    _send(connection, DriverEventType.PAIRED, account=ACCOUNT)
    _send(connection, DriverEventType.CONNECTED)


def test_disconnect_is_recorded_once_and_reconnect_is_ready_again(connection):
    _ready(connection)
    gone = _send(connection, DriverEventType.DISCONNECTED, reason="network_down")
    _send(connection, DriverEventType.DISCONNECTED, reason="network_down")
    assert gone.status == "disconnected" and gone.disconnect_reason == "network_down" and gone.disconnected_at
    assert ConnectionEvent.objects.filter(connection=connection, kind="disconnect").count() == 1
    assert _send(connection, DriverEventType.CONNECTED).status == "ready"


def test_logged_out_stops_the_connection(connection):
    _ready(connection)
    out = _send(connection, DriverEventType.LOGGED_OUT, reason="removed_from_phone")
    assert out.status == "logged_out" and out.desired_state == "stopped" and out.logged_out_at
    assert "connection.logged_out" in _webhook_types(connection)


def test_temporary_ban_is_a_disconnect_with_an_error(connection):
    _ready(connection)
    banned = _send(connection, DriverEventType.TEMPORARY_BAN, detail={"code": 101, "expires_in": 3600})
    assert banned.status == "disconnected" and banned.disconnect_reason == "temporary_ban"
    assert "101" in banned.error and "3600" in banned.error


def test_qr_timeout_is_auth_failed_and_stops(connection):
    _send(connection, DriverEventType.QR, qr="2@a,b,c,d", detail={"expires_in": 1})
    failed = _send(connection, DriverEventType.DISCONNECTED, reason="qr_timeout", detail={"auth_failed": True})
    assert failed.status == "auth_failed" and failed.desired_state == "stopped" and failed.auth_failed_at
    assert failed.last_qr == ""
    assert _webhook_types(connection)[-1] == "connection.auth_failed"


def test_keepalive_and_traffic_update_last_activity(connection):
    _ready(connection)
    WaConnection.objects.filter(pk=connection.pk).update(last_activity_at=None)
    assert _send(connection, DriverEventType.KEEPALIVE).last_activity_at is not None
    WaConnection.objects.filter(pk=connection.pk).update(last_activity_at=None)
    message = InboundMessage(
        wa_message_id="3EB0FFFF",
        chat_jid="4915100000001@s.whatsapp.net",
        sender_jid="4915100000001@s.whatsapp.net",
        from_me=False,
        is_group=False,
        type=MessageType.TEXT,
        timestamp=datetime.now(UTC),
        text="hi",
    )
    assert _send(connection, DriverEventType.MESSAGE, message=message).last_activity_at is not None
    _send(connection, DriverEventType.MESSAGE, message=message)
    from messaging.models import Message

    stored = Message.objects.filter(connection_id=connection.pk, wa_message_id="3EB0FFFF")
    assert stored.count() == 1, "handed to messaging once, however often the driver reports it"
    assert stored.get().text == "hi"
    receipt = Receipt(
        wa_message_ids=("3EB0FFFF",), chat_jid=message.chat_jid, type=ReceiptType.READ, timestamp=message.timestamp
    )
    WaConnection.objects.filter(pk=connection.pk).update(last_activity_at=None)
    assert _send(connection, DriverEventType.RECEIPT, receipt=receipt).last_activity_at is not None


def test_nonsense_events_are_ignored_not_raised(connection):
    _ready(connection)
    # A QR for a ready session is not a valid transition: logged and dropped.
    still = _send(connection, DriverEventType.QR, qr="2@late,b,c,d", detail={"expires_in": 20})
    assert still.status == "ready" and still.last_qr == ""
    # Events for a deleted connection are dropped.
    pk = connection.pk
    connection.delete()
    handle_driver_event(connection_id=pk, event=DriverEvent(type=DriverEventType.CONNECTED))


def test_late_connected_for_a_stopped_connection_is_ignored(connection):
    WaConnection.objects.filter(pk=connection.pk).update(desired_state="stopped", status="disconnected")
    assert _send(connection, DriverEventType.CONNECTED).status == "disconnected"


def _text(wa_message_id: str) -> InboundMessage:
    return InboundMessage(
        wa_message_id=wa_message_id,
        chat_jid="4915100000001@s.whatsapp.net",
        sender_jid="4915100000001@s.whatsapp.net",
        from_me=False,
        is_group=False,
        type=MessageType.TEXT,
        timestamp=datetime.now(UTC),
        text="hello",
    )


def _statements_on_connections(queries: CaptureQueriesContext) -> list[str]:
    table = WaConnection._meta.db_table
    return [query["sql"] for query in queries.captured_queries if table in query["sql"]]


def test_an_inbound_message_touches_its_connection_row_in_one_statement(connection):
    _ready(connection)
    WaConnection.objects.filter(pk=connection.pk).update(last_activity_at=None)
    with CaptureQueriesContext(database) as queries:
        handle_driver_event(
            connection_id=connection.pk, event=DriverEvent(type=DriverEventType.MESSAGE, message=_text("3EB0AAAA"))
        )
    statements = _statements_on_connections(queries)
    assert len(statements) == 1, statements
    stored = Message.objects.get(connection_id=connection.pk, wa_message_id="3EB0AAAA")
    assert stored.api_key_id == connection.api_key_id, "the owner came from that same statement"
    assert WaConnection.objects.get(pk=connection.pk).last_activity_at is not None
    assert _webhook_types(connection)[-1] == "message.received"


def test_a_burst_of_receipts_touches_its_connections_in_one_statement(connection):
    _ready(connection)
    receipt = Receipt(
        wa_message_ids=("3EB0BBBB",),
        chat_jid="4915100000001@s.whatsapp.net",
        type=ReceiptType.READ,
        timestamp=datetime.now(UTC),
    )
    burst = [(connection.pk, DriverEvent(type=DriverEventType.RECEIPT, receipt=receipt)) for _ in range(3)]
    burst.append((connection.pk, DriverEvent(type=DriverEventType.KEEPALIVE)))
    WaConnection.objects.filter(pk=connection.pk).update(last_activity_at=None)
    with CaptureQueriesContext(database) as queries:
        handle_driver_events(burst)
    assert len(_statements_on_connections(queries)) == 1, _statements_on_connections(queries)
    assert WaConnection.objects.get(pk=connection.pk).last_activity_at is not None


@pytest.mark.parametrize(
    "event",
    [
        DriverEvent(type=DriverEventType.LOGGED_OUT, reason="logout"),
        DriverEvent(type=DriverEventType.DISCONNECTED, reason="stopped"),
        DriverEvent(type=DriverEventType.CONNECTED),
        DriverEvent(type=DriverEventType.QR, qr="2@a,b,c,d", detail={"expires_in": 20}),
        DriverEvent(type=DriverEventType.MESSAGE, message=_text("3EB0CCCC")),
        DriverEvent(type=DriverEventType.KEEPALIVE),
    ],
    ids=lambda event: event.type,
)
def test_events_of_a_deleted_connection_are_dropped_quietly(connection, caplog, event):
    pk = connection.pk
    connection.delete()
    with caplog.at_level(logging.INFO, logger="accounts.runtime.event_sink"):
        handle_driver_events([(pk, event)])
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert not Message.objects.filter(connection_id=pk).exists()
    assert not WaConnection.objects.filter(pk=pk).exists(), "nothing brings the row back"


def _wait_for_a_lock_waiter(timeout: float = 10.0) -> None:
    """Until another session of this test database waits for a row lock (PostgreSQL's own view of it)."""
    deadline = time.monotonic() + timeout
    with database.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError("the event sink never waited for the connection's row")


@pytest.mark.django_db(transaction=True)
def test_a_logout_reported_while_its_connection_is_being_deleted_is_not_an_error(caplog):
    """A deleted session reports logged_out while the deletion holds the row: the normal end of a deletion.

    The deletion locks the row (as finishing a delete-logout command does), the sink's transition
    waits for it, and finds the row gone once the deletion commits.
    """
    if database.vendor != "postgresql":
        pytest.skip("row locks that make the sink wait exist on PostgreSQL; SQLite serialises whole transactions")
    connection = ConnectionFactory(running=True)
    _ready(connection)
    holding, failures = threading.Event(), []

    def delete_while_the_sink_waits() -> None:
        try:
            with transaction.atomic():
                WaConnection.objects.select_for_update().get(pk=connection.pk)
                holding.set()
                _wait_for_a_lock_waiter()
                WaConnection.objects.filter(pk=connection.pk).delete()
        except BaseException as exc:  # surfaced below
            failures.append(exc)
            holding.set()
        finally:
            database.close()

    deleter = threading.Thread(target=delete_while_the_sink_waits)
    deleter.start()
    assert holding.wait(10)
    with caplog.at_level(logging.INFO, logger="accounts.runtime.event_sink"):
        handle_driver_events([(connection.pk, DriverEvent(type=DriverEventType.LOGGED_OUT, reason="logout"))])
    deleter.join(20)
    assert failures == []
    assert not WaConnection.objects.filter(pk=connection.pk).exists()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert any("is gone" in r.getMessage() for r in caplog.records), "the drop is still said, at info"
