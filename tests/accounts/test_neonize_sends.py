"""Outbound through the real neonize client with its Go binding replaced: the protobuf that reaches Go."""

from __future__ import annotations

import io
import threading
import time
from datetime import UTC, datetime

import pytest
from neonize.proto import Neonize_pb2 as npb
from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e
from PIL import Image

from accounts.runtime.drivers.neonize_driver import NeonizeDriver
from accounts.runtime.drivers.neonize_errors import driver_error
from tests.accounts.test_neonize_translation import jid, media_fields, message_event
from wildcat.whatsapp import DriverError, DriverEventType, MediaPayload, MessageType, OutboundMessage

PEER_JID = "5511999990000@s.whatsapp.net"
GROUP_JID = "120363000000000001@g.us"
ME_JID = "5511888880000:7@s.whatsapp.net"
SENT_AT = 1_767_225_600


class FakeBinding:
    """Stands in for neonize's ctypes library: records every call and answers like Go would."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple]] = []
        self.send_error = ""
        self.upload_error = ""
        self.stopped = threading.Event()
        self.script = None  # run by Neonize() with its callbacks, before it blocks
        self.presence_error = ""
        # Set to an Event to make media transfers wait on it: a media host that does not answer.
        self.media_stall: threading.Event | None = None

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        handler = getattr(type(self), f"do_{name}", None)
        if handler is None:
            raise AssertionError(f"unexpected Go call {name}")

        def call(*args):
            self.calls.append((name, args))
            return handler(self, *args)

        return call

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def sent(self) -> list[tuple[npb.JID, e2e.Message]]:
        return [(npb.JID.FromString(a[1]), e2e.Message.FromString(a[3])) for n, a in self.calls if n == "SendMessage"]

    def do_SendMessage(self, uuid, to, to_len, message, message_len):
        assert len(to) == to_len and len(message) == message_len
        if self.send_error:
            return npb.SendMessageReturnFunction(Error=self.send_error).SerializeToString()
        timings = npb.MessageDebugTimings(
            Queue=0, Marshal=0, GetParticipants=0, GetDevices=0, GroupEncrypt=0, PeerEncrypt=0, Send=0, Resp=0, Retry=0
        )
        response = npb.SendResponse(Timestamp=SENT_AT, ID="3EB0FROMSERVER", ServerID=0, DebugTimings=timings)
        return npb.SendMessageReturnFunction(SendResponse=response).SerializeToString()

    def do_Upload(self, uuid, binary, size, media_type):
        if self.media_stall is not None:
            self.media_stall.wait(30)
        if self.upload_error:
            return npb.UploadReturnFunction(Error=self.upload_error).SerializeToString()
        response = npb.UploadResponse(
            url="https://mmg.whatsapp.net/up",
            DirectPath="/v/t62/up",
            Handle="",
            MediaKey=b"k" * 32,
            FileEncSHA256=b"e" * 32,
            FileSHA256=b"s" * 32,
            FileLength=size,
        )
        return npb.UploadReturnFunction(UploadResponse=response).SerializeToString()

    def do_DownloadAny(self, uuid, message, size):
        # whatsmeow download.go:127-145 DownloadAny: only these top-level fields are downloadable;
        # anything else is ErrNothingDownloadableFound (errors.go:141), which goneonize returns as Error.
        if self.media_stall is not None:
            self.media_stall.wait(30)
        parsed = e2e.Message.FromString(message)
        fields = ("imageMessage", "videoMessage", "audioMessage", "documentMessage", "stickerMessage")
        if not any(parsed.HasField(name) for name in fields):
            return npb.DownloadReturnFunction(Error="didn't find any attachments in message").SerializeToString()
        return npb.DownloadReturnFunction(Binary=b"\x89PNG-bytes").SerializeToString()

    def do_GetPNFromLID(self, uuid, jid_bytes, size):
        # goneonize main.go:318-335 over whatsmeow store/sqlstore/lidmap.go:91-116: a known LID gives the
        # phone-number JID (with the LID's device), an unknown one an empty JID and no error.
        lid = npb.JID.FromString(jid_bytes)
        known = {"987654321": "5511999990000"}.get(lid.User)
        found = jid(known, device=lid.Device) if known else jid()
        return npb.GetJIDFromStoreReturnFunction(Jid=found).SerializeToString()

    def do_SetForceActiveDeliveryReceipts(self, uuid, active):
        return b""  # goneonize main.go:1919-1921 returns nothing

    def do_SendPresence(self, uuid, presence):
        # goneonize main.go:2406-2412: "" or whatsmeow's error text, e.g. presence.go:67-68 ErrNoPushName.
        return self.presence_error.encode()

    def do_MarkRead(self, *args):
        return b""

    def do_SendChatPresence(self, *args):
        return b""

    def do_Logout(self, uuid):
        return b""

    def do_Stop(self, uuid):
        self.stopped.set()
        return b""

    def do_PairPhone(self, uuid, payload, size):
        return npb.PairPhoneReturnFunction(Code="ABCD-1234").SerializeToString()

    def do_IsOnWhatsApp(self, uuid, numbers, size):
        found = npb.IsOnWhatsAppResponse(Query="+5511999990000", JID=jid("5511999990000"), IsIn=True)
        missing = npb.IsOnWhatsAppResponse(Query="+15550000000", JID=jid(), IsIn=False)
        return npb.IsOnWhatsAppReturnFunction(IsOnWhatsAppResponse=[found, missing]).SerializeToString()

    def do_GetJoinedGroups(self, uuid):
        return npb.GetJoinedGroupsReturnFunction(Group=[_group()]).SerializePartialToString()

    def do_GetGroupInfo(self, uuid, jid, size):
        return npb.GetGroupInfoReturnFunction(GroupInfo=_group()).SerializePartialToString()

    def do_Neonize(self, *args):
        """Like Go: returns an error string at once, or blocks until Stop."""
        failure = self.script(args) if self.script is not None else None
        if failure:
            return failure
        self.stopped.wait(30)
        return None


def _group() -> npb.GroupInfo:
    member = npb.GroupParticipant(
        JID=npb.JID(User="987654321", Server="lid"),
        LID=npb.JID(User="987654321", Server="lid"),
        PhoneNumber=npb.JID(User="5511999990000", Server="s.whatsapp.net"),
        IsAdmin=True,
        IsSuperAdmin=False,
        DisplayName="Ana",
    )
    return npb.GroupInfo(
        JID=npb.JID(User="120363000000000001", Server="g.us"),
        OwnerPN=npb.JID(User="5511888880000", Server="s.whatsapp.net"),
        GroupName=npb.GroupName(Name="Team"),
        GroupTopic=npb.GroupTopic(Topic="Plans"),
        GroupCreated=SENT_AT,
        Participants=[member],
    )


@pytest.fixture
def fake(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.DATABASE_URL = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    return FakeBinding()


@pytest.fixture
def driver(fake):
    """A logged-in driver whose neonize client talks to the fake binding."""
    events: list = []
    driver = NeonizeDriver(connection_id=7, emit=events.append)
    driver.events = events
    driver._own_jid = ME_JID
    driver.client = driver._client_build()
    driver.client._NewClient__client = fake
    driver._logged_in = True
    yield driver
    driver.stop()


def outbound(kind: MessageType, **kwargs) -> OutboundMessage:
    return OutboundMessage(wa_message_id="3EB0PREGENERATED", chat_jid=PEER_JID, type=kind, **kwargs)


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), "red").save(out, format="PNG")
    return out.getvalue()


def only_sent(fake: FakeBinding) -> e2e.Message:
    sent = fake.sent()
    assert len(sent) == 1
    _to, message = sent[0]
    return message


# --- every message type ------------------------------------------------------------------------------
def test_text_send_returns_the_id_whatsapp_used_and_seconds(driver, fake):
    result = driver.send_message(outbound(MessageType.TEXT, text="hello"))
    (to, message), *_ = fake.sent()
    assert (to.User, to.Server) == ("5511999990000", "s.whatsapp.net")
    assert message.conversation == "hello"
    # neonize 0.5.2 cannot impose an id: the result carries the one whatsmeow chose.
    assert result.wa_message_id == "3EB0FROMSERVER"
    assert result.timestamp == datetime.fromtimestamp(SENT_AT, tz=UTC)


def test_a_retry_of_the_same_message_is_not_sent_twice(driver, fake):
    first = driver.send_message(outbound(MessageType.TEXT, text="once"))
    again = driver.send_message(outbound(MessageType.TEXT, text="once"))
    assert again == first
    assert fake.names().count("SendMessage") == 1


def test_text_reply_quotes_through_context_info(driver, fake):
    driver.send_message(
        outbound(
            MessageType.TEXT,
            text="answer",
            reply_to_wa_message_id="3EB0Q",
            reply_to_sender_jid=PEER_JID,
            reply_to_text="question",
        )
    )
    message = only_sent(fake)
    context = message.extendedTextMessage.contextInfo
    assert message.extendedTextMessage.text == "answer"
    assert (context.stanzaID, context.participant, context.quotedMessage.conversation) == (
        "3EB0Q",
        PEER_JID,
        "question",
    )


def test_image_is_uploaded_from_bytes_with_caption_thumbnail_and_quote(driver, fake):
    media = MediaPayload(content=png_bytes(), mimetype="image/png", filename="red.png")
    driver.send_message(outbound(MessageType.IMAGE, text="red", media=media, reply_to_wa_message_id="3EB0Q"))
    uploads = [args for name, args in fake.calls if name == "Upload"]
    assert len(uploads) == 1 and uploads[0][1] == media.content and uploads[0][3] == 0  # MediaImage
    image = only_sent(fake).imageMessage
    assert (image.caption, image.mimetype, image.URL, image.directPath) == (
        "red",
        "image/png",
        "https://mmg.whatsapp.net/up",
        "/v/t62/up",
    )
    assert image.fileLength == len(media.content) and image.mediaKey == b"k" * 32
    assert (image.width, image.height) == (640, 480) and image.JPEGThumbnail.startswith(b"\xff\xd8")
    assert image.contextInfo.stanzaID == "3EB0Q"


def test_video_audio_voice_note_document_and_sticker(driver, fake):
    blob = MediaPayload(content=b"\x00" * 64, mimetype="video/mp4")
    driver.send_message(outbound(MessageType.VIDEO, text="clip", media=blob))
    voice = MediaPayload(content=b"OggS" + b"\x00" * 60, mimetype="audio/ogg; codecs=opus")
    driver.send_message(
        OutboundMessage(
            wa_message_id="3EB0V", chat_jid=PEER_JID, type=MessageType.AUDIO, media=voice, content={"voice_note": True}
        )
    )
    pdf = MediaPayload(content=b"%PDF-1.4 x", mimetype="application/pdf", filename="invoice.pdf")
    driver.send_message(
        OutboundMessage(wa_message_id="3EB0D", chat_jid=GROUP_JID, type=MessageType.DOCUMENT, media=pdf)
    )
    sticker = MediaPayload(content=png_bytes(), mimetype="image/webp")
    driver.send_message(
        OutboundMessage(wa_message_id="3EB0S", chat_jid=PEER_JID, type=MessageType.STICKER, media=sticker)
    )
    video, audio, document, sticker_msg = (message for _, message in fake.sent())
    assert (video.videoMessage.caption, video.videoMessage.mimetype) == ("clip", "video/mp4")
    assert audio.audioMessage.PTT is True and audio.audioMessage.mimetype == "audio/ogg; codecs=opus"
    assert (document.documentMessage.fileName, document.documentMessage.mimetype) == ("invoice.pdf", "application/pdf")
    assert fake.sent()[2][0].Server == "g.us"
    assert sticker_msg.stickerMessage.mimetype == "image/webp" and sticker_msg.stickerMessage.width == 640
    media_types = [args[3] for name, args in fake.calls if name == "Upload"]
    assert media_types == [1, 2, 3, 0]  # video, audio, document, image (stickers upload as images)


def test_location_contact_reaction_and_poll(driver, fake):
    driver.send_message(
        outbound(MessageType.LOCATION, content={"latitude": -23.5, "longitude": -46.6, "name": "SP", "address": "Av."})
    )
    driver.send_message(
        OutboundMessage(
            wa_message_id="3EB0C",
            chat_jid=PEER_JID,
            type=MessageType.CONTACT,
            content={"name": "Bob", "phone": "+55 11 77777-0000"},
        )
    )
    reaction = {"target_wa_message_id": "3EB0T", "target_sender_jid": PEER_JID, "target_from_me": False, "emoji": "👍"}
    driver.send_message(
        OutboundMessage(wa_message_id="3EB0R", chat_jid=GROUP_JID, type=MessageType.REACTION, content=reaction)
    )
    poll = {"name": "Lunch?", "options": ["pizza", "sushi", "salad"], "selectable_count": 2}
    driver.send_message(OutboundMessage(wa_message_id="3EB0P", chat_jid=PEER_JID, type=MessageType.POLL, content=poll))
    location, contact, reaction_msg, poll_msg = (message for _, message in fake.sent())
    loc = location.locationMessage
    assert (loc.degreesLatitude, loc.degreesLongitude, loc.name, loc.address) == (-23.5, -46.6, "SP", "Av.")
    assert contact.contactMessage.displayName == "Bob"
    assert "waid=5511777770000:+5511777770000" in contact.contactMessage.vcard
    key = reaction_msg.reactionMessage.key
    assert (reaction_msg.reactionMessage.text, key.ID, key.remoteJID, key.fromMe) == ("👍", "3EB0T", GROUP_JID, False)
    assert key.participant == PEER_JID  # someone else's message in a group names its sender
    created = poll_msg.pollCreationMessage
    assert (created.name, [o.optionName for o in created.options], created.selectableOptionsCount) == (
        "Lunch?", ["pizza", "sushi", "salad"], 2
    )  # fmt: skip
    assert len(poll_msg.messageContextInfo.messageSecret) == 32


def test_reply_to_works_on_non_text_types(driver, fake):
    quote = {"reply_to_wa_message_id": "3EB0Q", "reply_to_sender_jid": PEER_JID}
    driver.send_message(outbound(MessageType.LOCATION, content={"latitude": 1, "longitude": 2}, **quote))
    assert only_sent(fake).locationMessage.contextInfo.stanzaID == "3EB0Q"


@pytest.mark.parametrize(
    ("message", "code"),
    [
        (outbound(MessageType.IMAGE), "media_missing"),
        (outbound(MessageType.LOCATION, content={"latitude": "north"}), "invalid_location"),
        (outbound(MessageType.POLL, content={"name": "?", "options": ["only"]}), "invalid_poll"),
        (outbound(MessageType.CONTACT, content={"name": "Bob"}), "invalid_contact"),
        (
            OutboundMessage(wa_message_id="X", chat_jid="not a jid@s.whatsapp.net", type=MessageType.TEXT, text="x"),
            "invalid_jid",
        ),
    ],
)
def test_bad_outbound_messages_fail_permanently_without_reaching_go(driver, fake, message, code):
    with pytest.raises(DriverError) as caught:
        driver.send_message(message)
    assert caught.value.code == code and caught.value.permanent
    assert "SendMessage" not in fake.names()


# --- edits, revokes and other calls -----------------------------------------------------------------
def test_edit_and_revoke(driver, fake):
    driver.edit_message(chat_jid=PEER_JID, wa_message_id="3EB0MINE", new_text="fixed")
    driver.revoke_message(chat_jid=PEER_JID, sender_jid=ME_JID, wa_message_id="3EB0MINE")
    driver.revoke_message(chat_jid=GROUP_JID, sender_jid=PEER_JID, wa_message_id="3EB0THEIRS")
    edit, own_revoke, admin_revoke = (message for _, message in fake.sent())
    protocol = edit.editedMessage.message.protocolMessage
    assert protocol.type == e2e.ProtocolMessage.MESSAGE_EDIT
    assert (protocol.key.ID, protocol.key.fromMe, protocol.editedMessage.conversation) == ("3EB0MINE", True, "fixed")
    revoke = own_revoke.protocolMessage
    assert (revoke.type, revoke.key.ID, revoke.key.fromMe) == (e2e.ProtocolMessage.REVOKE, "3EB0MINE", True)
    other = admin_revoke.protocolMessage.key
    assert (other.fromMe, other.participant, other.remoteJID) == (False, PEER_JID, GROUP_JID)


def test_mark_read_presence_numbers_and_groups(driver, fake):
    driver.mark_read(chat_jid=PEER_JID, sender_jid=PEER_JID, wa_message_ids=["A1", "A2"])
    mark = next(args for name, args in fake.calls if name == "MarkRead")
    assert mark[1] == b"A1 A2" and mark[-1] == b"read"
    driver.send_presence(chat_jid=PEER_JID, state="composing")
    driver.send_presence(chat_jid=PEER_JID, state="paused")
    presences = [args[3:] for name, args in fake.calls if name == "SendChatPresence"]
    assert presences == [(0, 0), (1, 0)]
    with pytest.raises(DriverError):
        driver.send_presence(chat_jid=PEER_JID, state="dancing")
    checked = driver.check_numbers(["+55 11 99999-0000", "15550000000"])
    assert checked == [
        {"number": "+55 11 99999-0000", "exists": True, "jid": PEER_JID},
        {"number": "15550000000", "exists": False, "jid": ""},
    ]
    assert next(args for name, args in fake.calls if name == "IsOnWhatsApp")[1] == b"+5511999990000 +15550000000"
    groups = driver.list_groups()
    assert groups[0]["jid"] == GROUP_JID and groups[0]["name"] == "Team" and groups[0]["participant_count"] == 1
    info = driver.group_info(GROUP_JID)
    assert info["participants"] == [
        {"jid": PEER_JID, "lid": "987654321@lid", "is_admin": True, "is_super_admin": False, "display_name": "Ana"}
    ]
    assert driver.call("list_groups", {}) == {"results": groups}


# --- errors --------------------------------------------------------------------------------------------
# Strings as whatsmeow 33cfac51 prints them (the full table is in test_neonize_errors.py):
# send.go:203 ErrNotLoggedIn, send.go:452 "server returned error %d", send.go:344 "no LID found for %s
# from server", errors.go:21 ErrIQTimedOut, errors.go:22 ErrNotConnected.
@pytest.mark.parametrize(
    ("go_error", "code", "permanent"),
    [
        ("the store doesn't contain a device JID", "logged_out", True),
        ("server returned error 401", "logged_out", True),
        ("no LID found for 5511940123456@s.whatsapp.net from server", "not_on_whatsapp", True),
        ("info query timed out", "timeout", False),
        ("websocket not connected", "not_connected", False),
        ("something new and strange", "send_failed", False),
    ],
)
def test_send_errors_are_mapped(driver, fake, go_error, code, permanent):
    fake.send_error = go_error
    with pytest.raises(DriverError) as caught:
        driver.send_message(outbound(MessageType.TEXT, text="x"))
    assert (caught.value.code, caught.value.permanent) == (code, permanent)
    assert go_error in caught.value.message


def test_upload_failure_is_transient_and_nothing_is_sent(driver, fake):
    fake.upload_error = "upload failed with status code 500"  # whatsmeow upload.go:248
    media = MediaPayload(content=b"x" * 10, mimetype="application/pdf", filename="a.pdf")
    with pytest.raises(DriverError) as caught:
        driver.send_message(outbound(MessageType.DOCUMENT, media=media))
    assert (caught.value.code, caught.value.permanent) == ("server_error", False)
    assert "SendMessage" not in fake.names()


def test_a_number_not_on_whatsapp_fails_that_message_only(driver, fake):
    # whatsmeow send.go:344: GetUserInfo found no LID for the number. The 401 inside the number
    # once made this a logout; the session must stay up and the next send go through.
    fake.send_error = "no LID found for 5511940123456@s.whatsapp.net from server"
    with pytest.raises(DriverError) as caught:
        driver.send_message(
            OutboundMessage(
                wa_message_id="3EB0NOBODY", chat_jid="5511940123456@s.whatsapp.net", type=MessageType.TEXT, text="x"
            )
        )
    assert (caught.value.code, caught.value.permanent) == ("not_on_whatsapp", True)
    assert driver.is_logged_in() and driver.events == []
    fake.send_error = ""
    assert driver.send_message(outbound(MessageType.TEXT, text="next")).wa_message_id == "3EB0FROMSERVER"


def test_unknown_exception_class_defaults():
    from neonize.exc import DownloadError

    assert driver_error(DownloadError("weird")).code == "download_failed"


def test_calls_need_a_logged_in_session(driver, fake):
    driver._logged_in = False
    with pytest.raises(DriverError) as caught:
        driver.send_message(outbound(MessageType.TEXT, text="x"))
    assert caught.value.code == "not_logged_in" and caught.value.permanent
    driver.stop()
    with pytest.raises(DriverError) as caught:
        driver.list_groups()
    assert caught.value.code == "session_not_started" and not caught.value.permanent


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
    from tests.accounts.test_neonize_translation import source

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


def test_video_notes_and_wrapped_media_are_downloaded_as_their_own_part(driver, fake, settings):
    settings.WILDCAT_MAX_MEDIA_BYTES = 1024
    # A video note is a VideoMessage in the ``ptvMessage`` field, which whatsmeow's DownloadAny
    # (download.go:131-144) does not read: the driver hands over the part as a ``videoMessage``.
    note = e2e.VideoMessage(**media_fields(mimetype="video/mp4", fileLength=10), seconds=4)
    driver._on_message(None, message_event(e2e.Message(ptvMessage=note), msg_id="PTV1"))
    wrapped = e2e.Message(
        viewOnceMessageV2=e2e.FutureProofMessage(
            message=e2e.Message(imageMessage=e2e.ImageMessage(**media_fields(fileLength=10)))
        )
    )
    driver._on_message(None, message_event(wrapped, msg_id="ONCE1"))
    driver.tick(0.0)
    note_event, once_event = driver.events
    assert note_event.message.type == MessageType.VIDEO and note_event.message.media.content == b"\x89PNG-bytes"
    assert "media_skipped" not in note_event.message.content
    assert once_event.message.media.mimetype == "image/jpeg"
    handed = [e2e.Message.FromString(args[1]) for name, args in fake.calls if name == "DownloadAny"]
    assert handed[0].videoMessage.seconds == 4 and not handed[0].HasField("ptvMessage")
    assert handed[1].imageMessage.directPath == "/v/t62/x"


def test_the_pairing_code_names_the_client_chrome_on_linux(driver, fake):
    # whatsmeow pair-code.go:87-89: the display name must be a common "Browser (OS)" pair, else 400.
    # goneonize main.go PairPhone passes PairPhoneParams.ClientDisplayName and ClientType through.
    driver._logged_in = False
    driver._socket_up.set()
    assert driver.request_pair_code("+55 11 99999-0000") == "ABCD-1234"
    params = npb.PairPhoneParams.FromString(next(args for name, args in fake.calls if name == "PairPhone")[1])
    assert (params.clientDisplayName, params.clientType) == ("Chrome (Linux)", 1)  # 1 = PairClientChrome
    assert params.phone == "5511999990000"


# --- media transfers have a deadline ----------------------------------------------------------------
# whatsmeow's media HTTP client has no timeout (client.go:252-254) and goneonize passes
# context.Background() (main.go:420 Upload, main.go:1194 DownloadAny): a stalled host never returns.
def test_a_stalled_upload_is_a_transient_timeout_and_nothing_is_sent(driver, fake, settings):
    settings.WILDCAT_NEONIZE_MEDIA_TIMEOUT_SECONDS = 0.3
    fake.media_stall = threading.Event()
    media = MediaPayload(content=b"%PDF-1.4 x", mimetype="application/pdf", filename="a.pdf")
    started = time.monotonic()
    try:
        with pytest.raises(DriverError) as caught:
            driver.send_message(outbound(MessageType.DOCUMENT, media=media))
    finally:
        fake.media_stall.set()
    assert time.monotonic() - started < 5
    assert (caught.value.code, caught.value.permanent) == ("timeout", False)
    assert "Upload" in fake.names() and "SendMessage" not in fake.names()


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
    from tests.accounts.test_neonize_translation import source

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


def test_group_created_at_is_read_from_the_float32_goneonize_sends():
    import struct

    from accounts.runtime.drivers.neonize_translation import group_summary

    # goneonize utils/encoder.go:149: GroupCreated = float32(info.GroupCreated.Unix()).
    created = struct.unpack("f", struct.pack("f", 1_767_225_661))[0]
    group = _group()
    group.GroupCreated = created
    assert created != 1_767_225_661  # float32 cannot hold today's Unix times to the second
    assert group_summary(npb.GroupInfo.FromString(group.SerializePartialToString()))["created_at"] == (
        datetime.fromtimestamp(int(created), tz=UTC).isoformat()
    )
