"""Receiving: stored once, own messages as from_me, media kept under the cap, changes update the original."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import transaction

from messaging.inbound import message_apply_receipt, message_receive
from messaging.media import media_files_discarded_on_error, media_store
from messaging.models import Media, Message
from tests.messaging.factories import MessageFactory
from wildcat.whatsapp import InboundMessage, MediaPayload, MessageType, Receipt, ReceiptType

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
PEER = "15551230000@s.whatsapp.net"


def inbound(wa_id: str = "ABC1", **fields) -> InboundMessage:
    values = {
        "wa_message_id": wa_id,
        "chat_jid": PEER,
        "sender_jid": PEER,
        "from_me": False,
        "is_group": False,
        "type": MessageType.TEXT,
        "timestamp": NOW,
        "text": "hello",
    }
    values.update(fields)
    return InboundMessage(**values)


def test_the_same_event_twice_is_stored_once(connection):
    first = message_receive(connection_id=connection.pk, message=inbound())
    second = message_receive(connection_id=connection.pk, message=inbound())
    assert first is not None and second is None
    rows = Message.objects.filter(connection=connection)
    assert rows.count() == 1
    row = rows.get()
    assert (row.direction, row.status, row.text, row.from_me) == ("inbound", "delivered", "hello", False)
    assert row.api_key_id == connection.api_key_id and row.timestamp == NOW


def test_own_message_from_the_phone_is_stored_as_from_me(connection):
    row = message_receive(connection_id=connection.pk, message=inbound("OWN1", from_me=True, sender_jid=""))
    assert row.from_me and row.direction == "outbound" and row.status == "sent"


def test_media_is_stored_with_digest_and_over_cap_media_is_not(connection, settings):
    settings.WILDCAT_MAX_MEDIA_BYTES = 2048
    small = MediaPayload(content=b"%PDF-1.4 tiny", mimetype="application/pdf", filename="a.pdf")
    big = MediaPayload(content=b"x" * 4096, mimetype="application/pdf", filename="b.pdf")
    kept = message_receive(connection_id=connection.pk, message=inbound("M1", type=MessageType.DOCUMENT, media=small))
    dropped = message_receive(connection_id=connection.pk, message=inbound("M2", type=MessageType.DOCUMENT, media=big))
    assert kept.media.size == len(small.content) and kept.media.mimetype == "application/pdf"
    with kept.media.file.open("rb") as handle:
        assert handle.read() == small.content
    import hashlib

    assert kept.media.sha256 == hashlib.sha256(small.content).hexdigest()
    assert dropped.media is None and dropped.content["media_error"]["code"] == "media_too_large"


def test_edit_revoke_and_reaction_update_the_original(connection):
    original = message_receive(connection_id=connection.pk, message=inbound("O1"))
    message_receive(connection_id=connection.pk, message=inbound("E1", text="fixed", edits_wa_message_id="O1"))
    message_receive(
        connection_id=connection.pk,
        message=inbound("R1", type=MessageType.REACTION, content={"emoji": "👍"}, reacts_to_wa_message_id="O1"),
    )
    original.refresh_from_db()
    assert original.text == "fixed" and original.edited_at is not None and original.reactions == {PEER: "👍"}
    message_receive(connection_id=connection.pk, message=inbound("V1", text="", revokes_wa_message_id="O1"))
    original.refresh_from_db()
    assert original.revoked_at is not None and original.text == ""
    assert Message.objects.filter(connection=connection).count() == 1


def _outbound(connection, wa_id: str, status: str) -> Message:
    return MessageFactory(connection=connection, wa_message_id=wa_id, chat_jid=PEER, text="x", status=status)


def test_receipts_move_forward_only(connection):
    sent = _outbound(connection, "S1", "sent")
    read = _outbound(connection, "S2", "read")
    assert (
        message_apply_receipt(
            connection_id=connection.pk, receipt=Receipt(("S1", "S2"), PEER, ReceiptType.DELIVERED, NOW)
        )
        == 1
    )
    sent.refresh_from_db()
    read.refresh_from_db()
    assert sent.status == "delivered" and sent.delivered_at == NOW
    assert read.status == "read", "read is never downgraded to delivered"
    assert (
        message_apply_receipt(connection_id=connection.pk, receipt=Receipt(("S1",), PEER, ReceiptType.READ, NOW)) == 1
    )
    sent.refresh_from_db()
    assert sent.status == "read" and sent.read_at == NOW
    assert (
        message_apply_receipt(connection_id=connection.pk, receipt=Receipt(("S1",), PEER, ReceiptType.DELIVERED, NOW))
        == 0
    )


def test_fields_a_sender_controls_are_cleaned_and_clamped_before_storing(connection):
    long_type = "application/" + "x" * 488  # 500 characters: more than the column holds
    media = MediaPayload(content=b"%PDF-1.4 tiny", mimetype=long_type, filename="../../etc/pass\x00wd\n.pdf")
    message = inbound(
        "NUL1",
        type=MessageType.DOCUMENT,
        text="before\x00after",
        push_name="Ann\x00" + "e" * 300,
        media=media,
        content={"caption": "a\x00b", "nested\x00key": ["x\x00y"]},
        raw={"payload": "r\x00aw"},
    )
    row = message_receive(connection_id=connection.pk, message=message)
    row = Message.objects.select_related("media").get(pk=row.pk)  # what the database actually holds
    assert row.text == "beforeafter"
    assert row.push_name == "Ann" + "e" * 197 and len(row.push_name) == 200
    assert row.content == {"caption": "ab", "nestedkey": ["xy"]}
    assert row.raw == {"payload": "raw"}
    assert len(long_type) == 500 and row.media.mimetype == "application/octet-stream"
    assert row.media.filename == "passwd.pdf"
    with row.media.file.open("rb") as handle:
        assert handle.read() == media.content


def test_a_long_mimetype_keeps_its_type_without_parameters(connection):
    declared = "audio/ogg; codecs=opus; " + "x=y; " * 40
    media = MediaPayload(content=b"OggS voice", mimetype=declared)
    row = message_receive(connection_id=connection.pk, message=inbound("OGG1", type=MessageType.AUDIO, media=media))
    assert len(declared) > 127 and Message.objects.get(pk=row.pk).media.mimetype == "audio/ogg"
    short = MediaPayload(content=b"OggS voice", mimetype="audio/ogg; codecs=opus")
    kept = message_receive(connection_id=connection.pk, message=inbound("OGG2", type=MessageType.AUDIO, media=short))
    assert Message.objects.get(pk=kept.pk).media.mimetype == "audio/ogg; codecs=opus", "a type that fits stays whole"


def test_media_written_by_a_store_that_fails_is_removed(connection):
    with pytest.raises(RuntimeError), media_files_discarded_on_error() as written, transaction.atomic():
        media = media_store(api_key_id=connection.api_key_id, data=b"%PDF-1.4 doomed", mimetype="application/pdf")
        written.append(media)
        assert media.file.storage.exists(media.file.name)
        raise RuntimeError("the message insert failed after the media was written")
    assert not media.file.storage.exists(media.file.name), "no file is left behind without its row"
    assert not Media.objects.filter(pk=media.pk).exists()
