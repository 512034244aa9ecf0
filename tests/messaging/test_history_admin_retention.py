"""History with filters and cursor pages, chats, the admin pages, and the retention sweep."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from messaging.inbound import message_receive
from messaging.models import Media, Message
from messaging.tasks import retention_prune_task
from tests.messaging.samples import PNG
from tests.webhooks.factories import EndpointFactory
from webhooks.models import WebhookEvent
from wildcat.whatsapp import InboundMessage, MediaPayload, MessageType

pytestmark = pytest.mark.django_db
ANN = "4915123456781@s.whatsapp.net"
BOB = "4915123456782@s.whatsapp.net"


def receive(connection, wa_id: str, chat: str, text: str, **fields):
    values = {
        "wa_message_id": wa_id,
        "chat_jid": chat,
        "sender_jid": chat,
        "from_me": False,
        "is_group": False,
        "type": MessageType.TEXT,
        "timestamp": datetime.now(UTC),
        "text": text,
    }
    values.update(fields)
    return message_receive(connection_id=connection.pk, message=InboundMessage(**values))


@pytest.fixture
def history(api_client, connection):
    receive(connection, "A1", ANN, "hello from ann")
    receive(connection, "B1", BOB, "bob says hi")
    receive(
        connection,
        "A2",
        ANN,
        "a picture",
        type=MessageType.IMAGE,
        media=MediaPayload(content=PNG, mimetype="image/png", filename="p.png"),
    )
    sent = api_client.post(f"/api/v1/connections/{connection.pk}/messages", {"to": "+4915123456781", "text": "reply"})
    assert sent.status_code == 202
    return connection


def _ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["wa_message_id"] for row in response.json()["results"]]


def test_history_filters_and_text_search(api_client, history):
    base = f"/api/v1/connections/{history.pk}/messages"
    everything = api_client.get(base).json()["results"]
    assert len(everything) == 4 and everything[0]["text"] == "reply", "newest first"
    assert _ids(api_client.get(base, {"direction": "inbound", "chat": ANN})) == ["A2", "A1"]
    assert _ids(api_client.get(base, {"type": "image"})) == ["A2"]
    assert _ids(api_client.get(base, {"q": "HI"})) == ["B1"]
    assert len(_ids(api_client.get(base, {"status": "queued"}))) == 1
    future = (timezone.now() + timedelta(minutes=1)).isoformat()
    assert _ids(api_client.get(base, {"since": future})) == []
    assert len(_ids(api_client.get(base, {"until": future}))) == 4
    bad = api_client.get(base, {"status": "lost"})
    assert bad.status_code == 400 and "status" in bad.json()["error"]["details"]


def test_history_pages_with_a_cursor(api_client, history):
    base = f"/api/v1/connections/{history.pk}/messages"
    first = api_client.get(base, {"page_size": 3}).json()
    assert len(first["results"]) == 3 and first["next"]
    second = api_client.get(first["next"]).json()
    seen = [r["id"] for r in first["results"]] + [r["id"] for r in second["results"]]
    assert len(seen) == len(set(seen)) == 4


def test_chats_list_the_last_message_of_each_chat(api_client, history):
    chats = api_client.get(f"/api/v1/connections/{history.pk}/chats").json()["results"]
    assert {c["chat_jid"]: c["last_message"]["text"] for c in chats} == {ANN: "reply", BOB: "bob says hi"}


def test_inbound_media_downloads_with_its_content_type(api_client, other_api_client, history):
    message = Message.objects.get(wa_message_id="A2")
    shown = api_client.get(f"/api/v1/messages/{message.pk}").json()
    download = api_client.get(shown["media"]["url"])
    assert download.status_code == 200 and download["Content-Type"] == "image/png"
    assert b"".join(download.streaming_content) == PNG
    assert other_api_client.get(shown["media"]["url"]).status_code == 404


def test_admin_lists_filters_and_shows_media_inline(admin_client, history):
    listing = admin_client.get("/admin/messaging/message/", {"direction": "inbound", "type": "image"})
    assert listing.status_code == 200
    page = listing.content.decode()
    assert "a picture" in page and "bob says hi" not in page
    message = Message.objects.get(wa_message_id="A2")
    detail = admin_client.get(f"/admin/messaging/message/{message.pk}/change/").content.decode()
    content_url = f"/admin/messaging/media/{message.media_id}/content/"
    assert f'<img src="{content_url}"' in detail
    served = admin_client.get(content_url)
    assert served.status_code == 200 and served["Content-Type"] == "image/png"


def test_retention_prunes_old_messages_and_their_media_only_when_set(history, settings):
    old = timezone.now() - timedelta(days=40)
    Message.objects.filter(wa_message_id__in=["A1", "A2"]).update(created_at=old)
    Media.objects.update(created_at=old)
    media = Media.objects.get()
    stored = media.file.name
    settings.WILDCAT_RETENTION_DAYS = 0
    assert retention_prune_task() == 0 and Message.objects.count() == 4
    settings.WILDCAT_RETENTION_DAYS = 30
    assert retention_prune_task() == 2
    remaining = set(Message.objects.values_list("wa_message_id", flat=True))
    assert len(remaining) == 2 and "B1" in remaining and not remaining & {"A1", "A2"}
    assert not Media.objects.exists() and not media.file.storage.exists(stored)


def test_time_range_queries_over_all_messages_can_use_an_index(history):
    """Retention and the dashboard select by creation time across connections: an index serves them."""
    from django.db import connection as database

    if database.vendor != "postgresql":
        pytest.skip("reads PostgreSQL's plans")
    cutoff = timezone.now() - timedelta(days=30)
    queries = {
        "retention": Message.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[:1000],
        "dashboard": Message.objects.filter(created_at__gte=cutoff).values("status"),
        "admin list": Message.objects.order_by("-created_at", "-id")[:100],
    }
    with database.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny test table would otherwise be scanned
        for name, queryset in queries.items():
            sql, params = queryset.query.sql_with_params()
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert "message_created" in plan, f"{name}:\n{plan}"


def test_retention_ends_unsent_messages_as_failed_with_an_event_before_deleting_them(api_client, connection, settings):
    EndpointFactory(api_key=connection.api_key, event_types=["message.failed"])
    url = f"/api/v1/connections/{connection.pk}/messages"
    ids = [api_client.post(url, {"to": "+4915123456781", "text": f"m{n}"}).json()["id"] for n in range(2)]
    Message.objects.filter(pk=ids[1]).update(status=Message.Status.SENDING)
    Message.objects.filter(pk__in=ids).update(created_at=timezone.now() - timedelta(days=40))
    settings.WILDCAT_RETENTION_DAYS = 30
    assert retention_prune_task() == 2
    events = [json.loads(event.body)["data"] for event in WebhookEvent.objects.filter(type="message.failed")]
    assert sorted(data["id"] for data in events) == sorted(ids), "each unsent message raised message.failed"
    assert {(data["status"], data["error"]["code"]) for data in events} == {("failed", "retention_expired")}
    assert not Message.objects.filter(pk__in=ids).exists()
