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

from accounts.runtime.drivers.neonize_errors import driver_error
from tests.accounts import whatsmeow_errors as wm
from tests.accounts.neonize_binding import GROUP_JID, ME_JID, PEER_JID, SENT_AT, FakeBinding
from tests.accounts.whatsmeow_errors import go_errorf
from wildcat.whatsapp import DriverError, MediaPayload, MessageType, OutboundMessage


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


def test_an_animated_sticker_says_so_and_an_unnamed_document_is_named_for_its_type(driver, fake):
    frames = [Image.new("RGB", (512, 512), colour) for colour in ("red", "blue")]
    animated = io.BytesIO()
    frames[0].save(animated, format="WEBP", save_all=True, append_images=frames[1:], duration=100, loop=0)
    still = io.BytesIO()
    frames[0].save(still, format="WEBP")
    for number, content in enumerate((animated.getvalue(), still.getvalue())):
        media = MediaPayload(content=content, mimetype="image/webp")
        sticker = OutboundMessage(
            wa_message_id=f"3EB0S{number}", chat_jid=PEER_JID, type=MessageType.STICKER, media=media
        )
        driver.send_message(sticker)
    unnamed = MediaPayload(content=b"%PDF-1.4 x", mimetype="application/pdf")
    driver.send_message(outbound(MessageType.DOCUMENT, media=unnamed))
    moving, standing, document = (message for _, message in fake.sent())
    assert (moving.stickerMessage.isAnimated, standing.stickerMessage.isAnimated) == (True, False)
    assert document.documentMessage.fileName == "file.pdf"


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


def test_keys_in_lid_chats_name_no_participant_and_a_poll_may_allow_any_number(driver, fake):
    # whatsmeow BuildMessageKey (send.go:500-504): one-to-one chats, phone-number or @lid, never carry
    # a participant; BuildPollCreation (msgsecret.go:342-356) keeps 0, "pick any number".
    reaction = {"target_wa_message_id": "3EB0T", "target_sender_jid": "987654321@lid", "emoji": "👍"}
    driver.send_message(
        OutboundMessage(wa_message_id="3EB0R", chat_jid="987654321@lid", type=MessageType.REACTION, content=reaction)
    )
    poll = {"name": "Toppings?", "options": ["cheese", "olives"], "selectable_count": 0}
    driver.send_message(OutboundMessage(wa_message_id="3EB0P", chat_jid=PEER_JID, type=MessageType.POLL, content=poll))
    reaction_msg, poll_msg = (message for _, message in fake.sent())
    key = reaction_msg.reactionMessage.key
    assert (key.remoteJID, key.fromMe, key.HasField("participant")) == ("987654321@lid", False, False)
    assert poll_msg.pollCreationMessage.selectableOptionsCount == 0


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
# Texts built from whatsmeow's formats (tests/accounts/whatsmeow_errors.py; the full table is in
# test_neonize_errors.py). Line numbers are whatsmeow 33cfac51's.
@pytest.mark.parametrize(
    ("go_error", "code", "permanent"),
    [
        # send.go:203 ErrNotLoggedIn (errors.go:23).
        (go_errorf(wm.NOT_LOGGED_IN), "logged_out", True),
        # send.go:452: an ack code whatsmeow gives no meaning is a transient failure, never a logout.
        (go_errorf(wm.WRAP_NUMBER, go_errorf(wm.SERVER_RETURNED_ERROR), 401), "send_failed", False),
        # send.go:452: ack 463, WhatsApp's reach-out lock on first messages to new contacts.
        (go_errorf(wm.WRAP_NUMBER, go_errorf(wm.SERVER_RETURNED_ERROR), 463), "forbidden", True),
        # send.go:344: the number has no WhatsApp account.
        (go_errorf(wm.NO_LID, "5511940123456@s.whatsapp.net"), "not_on_whatsapp", True),
        # send.go:341 + user.go:950: the LID lookup timed out (errors.go:21) before anything was sent.
        (
            go_errorf(
                wm.USER_INFO_FOR_LID,
                "5511940123456@s.whatsapp.net",
                go_errorf(wm.USYNC, go_errorf(wm.IQ_TIMED_OUT)),
            ),
            "timeout",
            False,
        ),
        # send.go:897 wrapping client.go:924 ErrNotConnected: the node never went out.
        (go_errorf(wm.SEND_NODE, go_errorf(wm.NOT_CONNECTED)), "not_connected", False),
        # request.go:208 bare ErrNotConnected, from send.go:442's retry: the node already went out.
        (go_errorf(wm.NOT_CONNECTED), "send_outcome_unknown", True),
        # request.go:212-215 the retry's bare SendFrame error, ErrSocketClosed (socket/constants.go:41).
        (go_errorf(wm.SOCKET_CLOSED), "send_outcome_unknown", True),
        # Not a whatsmeow 33cfac51 text (the shipped whatsmeow is newer): any unknown text is transient.
        ("something new and strange", "send_failed", False),
    ],
)
def test_send_errors_are_mapped(driver, fake, go_error, code, permanent):
    fake.send_error = go_error
    with pytest.raises(DriverError) as caught:
        driver.send_message(outbound(MessageType.TEXT, text="x"))
    assert (caught.value.code, caught.value.permanent) == (code, permanent)
    assert go_error in caught.value.message


def test_a_bare_not_connected_from_mark_read_is_retried(driver, fake, monkeypatch):
    # receipt.go:235 MarkRead is one sendNode (client.go:924): a bare ErrNotConnected means nothing went out.
    monkeypatch.setattr(FakeBinding, "do_MarkRead", lambda self, *args: go_errorf(wm.NOT_CONNECTED).encode())
    with pytest.raises(DriverError) as caught:
        driver.mark_read(chat_jid=PEER_JID, sender_jid=PEER_JID, wa_message_ids=["A1"])
    assert (caught.value.code, caught.value.permanent) == ("not_connected", False)


def test_upload_failure_is_transient_and_nothing_is_sent(driver, fake):
    fake.upload_error = go_errorf(wm.UPLOAD_STATUS, 500)  # whatsmeow upload.go:248
    media = MediaPayload(content=b"x" * 10, mimetype="application/pdf", filename="a.pdf")
    with pytest.raises(DriverError) as caught:
        driver.send_message(outbound(MessageType.DOCUMENT, media=media))
    assert (caught.value.code, caught.value.permanent) == ("server_error", False)
    assert "SendMessage" not in fake.names()


def test_a_number_not_on_whatsapp_fails_that_message_only(driver, fake):
    # whatsmeow send.go:344: GetUserInfo found no LID for the number. The 401 inside the number
    # once made this a logout; the session must stay up and the next send go through.
    fake.send_error = go_errorf(wm.NO_LID, "5511940123456@s.whatsapp.net")
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
