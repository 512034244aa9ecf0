"""Inbound messages that cannot be stored become dead letters with their payload, and an operator stores them later."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from accounts.runtime.event_sink import handle_driver_events
from messaging.dead_letters import inbound_dead_letter_record, inbound_payload_decode
from messaging.models import InboundDeadLetter, Message
from webhooks.models import WebhookEndpoint, WebhookEvent
from wildcat.whatsapp import DriverEvent, DriverEventType, InboundMessage, MediaPayload, MessageType

pytestmark = pytest.mark.django_db
PEER = "15551230000@s.whatsapp.net"
CHANGELIST = "/admin/messaging/inbounddeadletter/"


def picture(wa_id: str = "DEAD1") -> InboundMessage:
    return InboundMessage(
        wa_message_id=wa_id,
        chat_jid=PEER,
        sender_jid=PEER,
        from_me=False,
        is_group=False,
        type=MessageType.DOCUMENT,
        timestamp=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        text="the contract\x00",
        push_name="Bob",
        media=MediaPayload(content=b"%PDF-1.4 signed", mimetype="application/pdf", filename="contract.pdf"),
        content={"caption": "see attached"},
        raw={"id": wa_id},
    )


def _unwritable_media_root(tmp_path: Path) -> str:
    """A media folder that cannot be created (its parent is a file): storing media fails, even for root."""
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    return str(blocker / "media")


def _deliver(connection, message: InboundMessage) -> None:
    handle_driver_events([(connection.pk, DriverEvent(type=DriverEventType.MESSAGE, message=message))])


def test_a_message_that_cannot_be_stored_becomes_a_dead_letter_and_is_stored_on_retry(
    connection, settings, tmp_path, admin_client, caplog
):
    WebhookEndpoint.objects.create(api_key=connection.api_key, url="https://hooks.example.com/in", secret="whsec_x")
    writable = settings.MEDIA_ROOT
    settings.MEDIA_ROOT = _unwritable_media_root(tmp_path)
    with caplog.at_level(logging.ERROR, logger="accounts.runtime.event_sink"):
        _deliver(connection, picture())
    assert not Message.objects.filter(connection=connection).exists()
    letter = InboundDeadLetter.objects.get(connection=connection)
    assert (letter.status, letter.wa_message_id, letter.attempts) == ("pending", "DEAD1", 1)
    assert "Error" in letter.error and str(tmp_path) in letter.error
    assert inbound_payload_decode(letter.payload) == picture(), "the payload is the whole message, media included"
    assert any(f"dead letter {letter.pk}" in record.getMessage() for record in caplog.records)

    listing = admin_client.get(CHANGELIST)
    assert listing.status_code == 200 and "DEAD1" in listing.content.decode()
    detail = admin_client.get(f"{CHANGELIST}{letter.pk}/change/")
    assert detail.status_code == 200 and "contract.pdf" in detail.content.decode()

    # Still broken: the retry records the new attempt and keeps the letter.
    admin_client.post(CHANGELIST, {"action": "retry_selected", "_selected_action": [letter.pk]})
    letter.refresh_from_db()
    assert (letter.status, letter.attempts) == ("pending", 2)

    settings.MEDIA_ROOT = writable
    response = admin_client.post(CHANGELIST, {"action": "retry_selected", "_selected_action": [letter.pk]}, follow=True)
    assert "1 stored; 0 still failing" in response.content.decode()
    letter.refresh_from_db()
    stored = Message.objects.select_related("media").get(connection=connection, wa_message_id="DEAD1")
    assert (letter.status, letter.message_id, letter.error) == ("stored", stored.pk, "")
    assert stored.text == "the contract" and stored.media.filename == "contract.pdf"
    with stored.media.file.open("rb") as handle:
        assert handle.read() == b"%PDF-1.4 signed"
    assert list(WebhookEvent.objects.filter(connection_id=connection.pk).values_list("type", flat=True)) == [
        "message.received"
    ]
    # Retrying a stored letter again changes nothing.
    admin_client.post(CHANGELIST, {"action": "retry_selected", "_selected_action": [letter.pk]})
    assert Message.objects.filter(connection=connection).count() == 1


def test_a_dead_letter_keeps_nul_characters_on_every_database(connection):
    message = picture("NUL9")
    letter = inbound_dead_letter_record(connection_id=connection.pk, message=message, error="boom\x00")
    letter = InboundDeadLetter.objects.get(pk=letter.pk)
    assert inbound_payload_decode(letter.payload).text == "the contract\x00"
    assert letter.error == "boom"


def test_retrying_needs_the_change_permission(connection, client):
    letter = inbound_dead_letter_record(connection_id=connection.pk, message=picture("PERM1"), error="x")
    viewer = get_user_model().objects.create_user("viewer", password="pw-0123456789", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_inbounddeadletter"))
    client.force_login(viewer)
    assert client.get(CHANGELIST).status_code == 200
    client.post(CHANGELIST, {"action": "retry_selected", "_selected_action": [letter.pk]})
    letter.refresh_from_db()
    assert (letter.status, letter.attempts) == ("pending", 1), "a viewer cannot store it"
