"""Inbound through the real neonize client with its Go binding replaced: whatsmeow's events, as reported."""

from __future__ import annotations

import struct
import threading
import time
from datetime import UTC, datetime

import pytest
from neonize.proto import Neonize_pb2 as npb
from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e

from accounts.runtime.drivers.neonize_groups import GO_ZERO_TIME_UNIX, group_summary
from tests.accounts.neonize_binding import PEER_JID, group_info
from tests.accounts.test_neonize_translation import jid, media_fields, message_event, source
from wildcat.whatsapp import DriverEventType, MediaPayload, MessageType


# --- inbound media download on the command thread -------------------------------------------------
def test_inbound_media_is_downloaded_on_tick_under_the_cap(driver, fake, settings):
    settings.WILDCAT_MAX_MEDIA_BYTES = 1024
    document = e2e.DocumentMessage(**media_fields(mimetype="application/pdf", fileLength=10, fileName="a.pdf"))
    driver._on_message(None, message_event(e2e.Message(documentMessage=document), msg_id="IN1"))
    assert "DownloadAny" not in fake.names() and not driver.events  # nothing from the handler thread
    driver.tick(0.0)
    message = driver.events[-1].message
    assert driver.events[-1].type == DriverEventType.MESSAGE
    assert message.media == MediaPayload(content=b"\x89PNG-bytes", mimetype="application/pdf", filename="a.pdf")
    downloaded = e2e.Message.FromString(next(args for name, args in fake.calls if name == "DownloadAny")[1])
    assert downloaded.documentMessage.fileName == "a.pdf"
    settings.WILDCAT_MAX_MEDIA_BYTES = 4  # the real download turns out bigger than the cap
    driver._on_message(None, message_event(e2e.Message(documentMessage=document), msg_id="IN2"))
    driver.tick(0.0)
    assert driver.events[-1].message.media is None
    assert driver.events[-1].message.content["media_skipped"].startswith("too_large")


def test_stop_delivers_queued_messages_with_their_media_first(driver, fake, settings):
    settings.WILDCAT_MAX_MEDIA_BYTES = 1024
    image = e2e.Message(imageMessage=e2e.ImageMessage(**media_fields(fileLength=10)))
    driver._on_message(None, message_event(image, msg_id="IN3"))
    driver.stop()
    assert driver.events[-1].message.wa_message_id == "IN3"
    assert driver.events[-1].message.media.content == b"\x89PNG-bytes"
    assert fake.names().index("DownloadAny") < fake.names().index("Stop")
    driver._on_message(None, message_event(image, msg_id="IN4"))  # a straggler after stop
    assert driver.events[-1].message.content["media_skipped"] == "session_stopped"


def test_our_own_stop_is_not_reported_as_a_disconnect(driver, fake):
    driver.stop()
    driver._on_connection_event(None, npb.Disconnected(status=True))
    driver._on_qr(None, b"2@late")
    assert driver.events == []
    driver._on_connection_event(None, npb.LoggedOut(OnConnect=False, Reason=npb.LOGGED_OUT))
    assert [(e.type, e.reason) for e in driver.events] == [(DriverEventType.LOGGED_OUT, "logged_out")]


# --- chats that are not chats --------------------------------------------------------------------------
def test_status_posts_and_newsletters_are_not_messages(driver, fake, settings):
    settings.WILDCAT_MAX_MEDIA_BYTES = 1024
    # whatsmeow message.go:97-113: a node from the broadcast server becomes IsGroup=true with the
    # contact as participant; a contact's status post comes from status@broadcast (types/jid.go:42).
    status = source(chat=jid("status", server="broadcast"), sender=jid("5511999990000"), group=True)
    image = e2e.Message(imageMessage=e2e.ImageMessage(**media_fields(fileLength=10), caption="my holiday"))
    driver._on_message(None, message_event(image, msg_id="STATUS1", src=status))
    text_status = e2e.Message(extendedTextMessage=e2e.ExtendedTextMessage(text="good morning"))
    driver._on_message(None, message_event(text_status, msg_id="STATUS2", src=status))
    # message.go:139-141: a newsletter message has the channel as both chat and sender.
    channel = jid("120363000000000099", server="newsletter")
    driver._on_message(None, message_event(e2e.Message(conversation="news"), msg_id="NEWS1", src=source(chat=channel)))
    driver.tick(0.0)
    assert driver.events == [] and "DownloadAny" not in fake.names()
    # The same image in an ordinary chat is still a message with its media.
    driver._on_message(None, message_event(image, msg_id="CHAT1"))
    driver.tick(0.0)
    assert [e.message.wa_message_id for e in driver.events] == ["CHAT1"]
    assert fake.names().count("DownloadAny") == 1


def test_a_status_shared_into_a_group_is_not_a_message(driver, fake):
    group = source(chat=jid("120363000000000001", server="g.us"), sender=jid("5511999990000"), group=True)
    post = e2e.FutureProofMessage(message=e2e.Message(conversation="my status"))
    for field in ("groupStatusMessage", "groupStatusMessageV2", "groupStatusMentionMessage", "statusMentionMessage"):
        driver._on_message(None, message_event(e2e.Message(**{field: post}), msg_id=field, src=group))
    driver._on_message(None, message_event(e2e.Message(conversation="a real one"), msg_id="REAL", src=group))
    driver.tick(0.0)
    assert [e.message.wa_message_id for e in driver.events] == ["REAL"]


def test_a_contacts_broadcast_list_message_lands_in_the_direct_chat(driver, fake):
    # message.go:97-113: a message a contact sent to one of their broadcast lists comes from
    # <list>@broadcast with IsGroup=true and the contact as participant; types/message.go:43-48
    # (IsIncomingBroadcast): "the message shows up in the direct chat with the Sender".
    listed = source(chat=jid("1767225600", server="broadcast"), sender=jid("5511999990000", device=2), group=True)
    driver._on_message(None, message_event(e2e.Message(conversation="to everyone on my list"), src=listed))
    # Our own send to a list of ours, from the phone, names the list and its recipients (message.go:114-137),
    # not a chat: it is not stored.
    own = source(chat=jid("1767225601", server="broadcast"), sender=jid("5511888880000", device=0), group=True)
    own.IsFromMe = True
    driver._on_message(None, message_event(e2e.Message(conversation="my list"), msg_id="OWNLIST", src=own))
    driver.tick(0.0)
    (event,) = driver.events
    message = event.message
    assert (message.chat_jid, message.sender_jid, message.is_group) == (PEER_JID, PEER_JID, False)
    assert message.text == "to everyone on my list"


def test_video_notes_and_wrapped_media_are_downloaded_as_their_own_part(driver, fake, settings):
    settings.WILDCAT_MAX_MEDIA_BYTES = 1024
    # A video note is a VideoMessage in the ``ptvMessage`` field, which whatsmeow's DownloadAny
    # (download.go:131-144) does not read: the driver hands over the part as a ``videoMessage``.
    note = e2e.VideoMessage(**media_fields(mimetype="video/mp4", fileLength=10), seconds=4)
    driver._on_message(None, message_event(e2e.Message(ptvMessage=note), msg_id="PTV1"))
    # An album item arrives still wrapped in associatedChildMessage: whatsmeow's UnwrapRaw
    # (events.go:372-420) does not remove that wrapper, and DownloadAny reads no wrapper either.
    wrapped = e2e.Message(
        associatedChildMessage=e2e.FutureProofMessage(
            message=e2e.Message(imageMessage=e2e.ImageMessage(**media_fields(fileLength=10)))
        )
    )
    driver._on_message(None, message_event(wrapped, msg_id="ALBUM1"))
    driver.tick(0.0)
    note_event, album_event = driver.events
    assert note_event.message.type == MessageType.VIDEO and note_event.message.media.content == b"\x89PNG-bytes"
    assert note_event.message.content["video_note"] is True and "media_skipped" not in note_event.message.content
    assert album_event.message.media.mimetype == "image/jpeg"
    handed = [e2e.Message.FromString(args[1]) for name, args in fake.calls if name == "DownloadAny"]
    assert handed[0].videoMessage.seconds == 4 and not handed[0].HasField("ptvMessage")
    assert handed[1].imageMessage.directPath == "/v/t62/x" and not handed[1].HasField("associatedChildMessage")


def test_a_part_without_a_media_path_keeps_the_message_without_media(driver, fake, settings):
    settings.WILDCAT_MAX_MEDIA_BYTES = 1024
    # download.go:216-218: a part with neither URL nor directPath is ErrNoURLPresent ("no url present").
    bare = e2e.ImageMessage(mimetype="image/jpeg", fileLength=10, caption="lost")
    driver._on_message(None, message_event(e2e.Message(imageMessage=bare), msg_id="NOURL"))
    driver.tick(0.0)
    (event,) = driver.events
    assert event.message.media is None and event.message.text == "lost"
    assert event.message.content["media_skipped"].startswith("download_failed")
    assert "no url present" in event.message.content["media_skipped"]


def test_a_stalled_download_keeps_the_message_without_media(driver, fake, settings):
    settings.WILDCAT_NEONIZE_MEDIA_TIMEOUT_SECONDS = 0.3
    settings.WILDCAT_MAX_MEDIA_BYTES = 1024
    fake.media_stall = threading.Event()
    image = e2e.Message(imageMessage=e2e.ImageMessage(**media_fields(fileLength=10), caption="late"))
    driver._on_message(None, message_event(image, msg_id="SLOW1"))
    started = time.monotonic()
    try:
        driver.tick(0.0)
    finally:
        fake.media_stall.set()
    assert time.monotonic() - started < 5
    (event,) = driver.events
    assert event.message.wa_message_id == "SLOW1" and event.message.media is None
    assert event.message.content["media_skipped"].startswith("download_timeout")
    assert event.message.text == "late"


# --- privacy ids ----------------------------------------------------------------------------------------
def test_lid_senders_without_a_phone_number_are_resolved_through_the_store(driver, fake):
    # whatsmeow message.go: a one-to-one message from a LID chat, with no SenderAlt (empty JID).
    by_lid = source(chat=jid("987654321", server="lid"), sender=jid("987654321", server="lid", device=2))
    driver._on_message(None, message_event(e2e.Message(conversation="hi"), msg_id="LID1", src=by_lid))
    assert driver.events == [], "the store lookup is a neonize call: it waits for the command thread"
    driver._on_message(None, message_event(e2e.Message(conversation="again"), msg_id="PN1"))
    stranger = source(chat=jid("111222333", server="lid"))
    driver._on_message(None, message_event(e2e.Message(conversation="who?"), msg_id="LID2", src=stranger))
    driver.tick(0.0)
    chats = [(e.message.wa_message_id, e.message.chat_jid, e.message.sender_jid) for e in driver.events]
    assert chats == [
        ("LID1", PEER_JID, PEER_JID),  # one contact, one chat, whichever id WhatsApp used
        ("PN1", PEER_JID, PEER_JID),
        ("LID2", "111222333@lid", "111222333@lid"),  # unknown to the store: kept as it came
    ]
    driver._on_message(None, message_event(e2e.Message(conversation="cached"), msg_id="LID3", src=by_lid))
    driver.tick(0.0)
    assert driver.events[-1].message.chat_jid == PEER_JID
    assert fake.names().count("GetPNFromLID") == 3  # 987654321 once (remembered), 111222333 twice


def _as_goneonize_sends(creation: int, subject_set_at: int) -> npb.GroupInfo:
    """A GroupInfo as it crosses the binding: whatsmeow group.go:742 and :746 read the integer
    ``s_t`` and ``creation`` attributes; goneonize utils/encoder.go:47 keeps ``s_t`` an int64 and
    encoder.go:149 turns ``creation`` into ``float32(GroupCreated.Unix())``."""
    group = group_info()
    group.GroupCreated = struct.unpack("f", struct.pack("f", creation))[0]
    group.GroupName.NameSetAt = subject_set_at
    return npb.GroupInfo.FromString(group.SerializeToString())  # every required field, as Go fills them


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat()


CREATED = 1_767_225_661  # float32 rounds it to 1_767_225_600


@pytest.mark.parametrize(
    ("creation", "subject_set_at", "expected"),
    [
        # Named at creation, never renamed: s_t is the creation second, to the second.
        (CREATED, CREATED, _iso(CREATED)),
        # Renamed a day later: s_t says nothing about creation; the float32, within 64 s.
        (CREATED, CREATED + 86_400, _iso(1_767_225_600)),
        # No s_t attribute: attrs.go:116-123 gives Go's zero time, encoded as its Unix value.
        (CREATED, GO_ZERO_TIME_UNIX, _iso(1_767_225_600)),
        # No creation attribute either: the zero time crosses as a negative float32; no time.
        (GO_ZERO_TIME_UNIX, GO_ZERO_TIME_UNIX, None),
    ],
)
def test_group_created_at_uses_the_integer_subject_time_when_the_float32_allows(creation, subject_set_at, expected):
    group = _as_goneonize_sends(creation, subject_set_at)
    assert group.GroupCreated != creation  # float32 cannot hold these Unix times to the second
    assert group_summary(group)["created_at"] == expected
