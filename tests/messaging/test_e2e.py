"""End to end with real worker processes, Redis and the sandbox: API → outbox in a session host → receipts.

Also: the worker is killed with SIGKILL mid-send and another takes over; every message ends sent
exactly once, with the WhatsApp id it was given when it was queued.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from accounts.models import SandboxDelivery, SessionCommand, WaConnection
from accounts.services import connection_create, connection_start
from accounts.session_commands import session_command_create
from messaging.models import Message
from tests.messaging.samples import MP4, OGG_OPUS, PDF, PNG, WEBP, b64
from tests.support.processes import running, start_beat, start_worker, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PEER = "+4915123456789"
HELD_PEER = "+4915123456788"
# Short runtime timers so takeover happens within seconds (each is a setting).
ENV = {
    "WILDCAT_LEASE_TTL_SECONDS": "5",
    "WILDCAT_LEASE_RENEW_SECONDS": "0.5",
    "WILDCAT_RECONCILE_SECONDS": "0.5",
    "WILDCAT_SESSION_POLL_SECONDS": "0.3",
    "WILDCAT_SESSION_SAFETY_POLL_SECONDS": "1",
    "WILDCAT_HOST_RESTART_BACKOFF_MAX": "1",
    "WILDCAT_COMMAND_STALE_SECONDS": "2",
    "WILDCAT_SANDBOX_CONNECT_SECONDS": "0.1",
    "WILDCAT_SANDBOX_DELIVERED_SECONDS": "0.2",
    "WILDCAT_SANDBOX_READ_SECONDS": "0.5",
    "WILDCAT_SEND_RATE_PER_MINUTE": "0",
}


def sessions_worker(name: str, logs):
    from django.conf import settings

    # Session hosts read uploaded media from the same storage the API wrote it to.
    media = {"WILDCAT_MEDIA_ROOT": str(settings.MEDIA_ROOT)}
    return start_worker(name, "sessions", logs, pool="threads", concurrency=4, **ENV, **media)


def ready_connection(api_key, name: str, *, send_rate_per_minute: int | None = None) -> WaConnection:
    connection = connection_create(api_key_id=api_key.pk, name=name)
    WaConnection.objects.filter(pk=connection.pk).update(send_rate_per_minute=send_rate_per_minute)
    connection_start(connection=connection)
    wait_until(lambda: WaConnection.objects.get(pk=connection.pk).status == "pending", timeout=90, message="QR")
    session_command_create(connection=connection, kind=SessionCommand.Kind.CALL, payload={"op": "scan", "args": {}})
    wait_until(lambda: WaConnection.objects.get(pk=connection.pk).status == "ready", timeout=60, message="ready")
    return WaConnection.objects.get(pk=connection.pk)


def test_every_type_api_to_read_and_inbound_stored_once(api_client, api_key, redis_url, process_logs, settings):
    settings.WILDCAT_SEND_RATE_PER_MINUTE = 0
    worker, beat = sessions_worker("msg-e2e", process_logs), start_beat(process_logs, **ENV)
    with running(worker, beat):
        connection = ready_connection(api_key, "e2e-types")
        url = f"/api/v1/connections/{connection.pk}/messages"
        bodies = [
            {"to": PEER, "type": "text", "text": "hello"},
            {"to": PEER, "type": "image", "media": {"base64": b64(PNG)}},
            {"to": PEER, "type": "video", "media": {"base64": b64(MP4)}},
            {"to": PEER, "type": "audio", "voice_note": True, "media": {"base64": b64(OGG_OPUS)}},
            {"to": PEER, "type": "document", "media": {"base64": b64(PDF), "filename": "a.pdf"}},
            {"to": PEER, "type": "sticker", "media": {"base64": b64(WEBP)}},
            {"to": PEER, "type": "location", "location": {"latitude": 1.5, "longitude": 2.5}},
            {"to": PEER, "type": "contact", "contact": {"name": "Ada", "phone": "+4915123456780"}},
            {"to": PEER, "type": "poll", "poll": {"name": "Q?", "options": ["a", "b"]}},
        ]
        ids = []
        for body in bodies:
            response = api_client.post(url, body, format="json")
            assert response.status_code == 202, response.content
            ids.append(response.json()["id"])
        wait_until(
            lambda: set(Message.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"read"},
            timeout=60,
            message="every type sent, delivered and read",
        )
        sent = Message.objects.filter(pk__in=ids)
        assert all(m.sent_at and m.delivered_at and m.read_at for m in sent)
        seen = SandboxDelivery.objects.filter(connection_id=connection.pk)
        assert sorted(seen.values_list("wa_message_id", flat=True)) == sorted(m.wa_message_id for m in sent)

        inject = {"op": "inject_message", "args": {"sender": PEER, "text": "hi there", "wa_message_id": "IN-DUP-1"}}
        for _ in range(2):
            session_command_create(connection=connection, kind=SessionCommand.Kind.CALL, payload=inject)
        wait_until(
            lambda: SessionCommand.objects.filter(connection_id=connection.pk, status="done").count() >= 3,
            timeout=30,
            message="both injections ran",
        )
        wait_until(lambda: Message.objects.filter(wa_message_id="IN-DUP-1").exists(), timeout=30, message="stored")
        assert Message.objects.filter(connection=connection, direction="inbound").count() == 1


def _queue(api_client, url: str, to: str, text: str) -> int:
    response = api_client.post(url, {"to": to, "text": text}, format="json")
    assert response.status_code == 202, response.content
    return response.json()["id"]


def test_kill_9_mid_send_ends_sent_exactly_once_with_the_same_ids(api_client, api_key, redis_url, process_logs):
    beat = start_beat(process_logs, **ENV)
    first = sessions_worker("msg-first", process_logs)
    with running(beat, first):
        # Paced at 30 messages/s: one chat streams while the worker is killed.
        connection = ready_connection(api_key, "e2e-kill", send_rate_per_minute=1800)
        url = f"/api/v1/connections/{connection.pk}/messages"
        # The other chat is held back by the test, whatever the machine's speed: its oldest message is
        # due only in an hour (committed that way, so no owner ever saw it due), and per-chat order
        # keeps every later message of that chat behind it.
        with transaction.atomic():
            held = _queue(api_client, url, HELD_PEER, "held-0")
            Message.objects.filter(pk=held).update(next_attempt_at=timezone.now() + timedelta(hours=1))
        for i in range(150):
            _queue(api_client, url, PEER, f"m{i}")
            _queue(api_client, url, HELD_PEER, f"held-{i + 1}")
        ids = dict(Message.objects.filter(connection=connection).values_list("pk", "wa_message_id"))
        wait_until(
            lambda: Message.objects.filter(connection=connection, sent_at__isnull=False).exists(),
            timeout=60,
            interval=0.02,
            message="the first owner starts sending",
        )
        first.kill()  # SIGKILL to the worker and its session host, mid-stream
        unfinished = Message.objects.filter(connection=connection, status__in=["queued", "sending"]).count()
        held_back = Message.objects.filter(connection=connection, chat_jid__startswith=HELD_PEER[1:], sent_at=None)
        assert held_back.count() == 151, "the held chat was still entirely queued when the owner died"
        Message.objects.filter(pk=held).update(next_attempt_at=None)  # released for the next owner
        second = sessions_worker("msg-second", process_logs)
        with running(second):
            wait_until(
                lambda: not Message.objects.filter(connection=connection, sent_at__isnull=True).exists(),
                timeout=90,
                message="the next owner sends the rest",
            )
    assert unfinished > 0, "the kill happened while messages were still waiting"
    after = dict(Message.objects.filter(connection=connection).values_list("pk", "wa_message_id"))
    assert after == ids, "every message kept the WhatsApp id it was queued with"
    assert set(Message.objects.filter(connection=connection).values_list("status", flat=True)) <= {
        "sent",
        "delivered",
        "read",
    }
    deliveries = list(
        SandboxDelivery.objects.filter(connection_id=connection.pk).values_list("wa_message_id", flat=True)
    )
    assert len(deliveries) == len(set(deliveries)) == 301 and set(deliveries) == set(ids.values())
