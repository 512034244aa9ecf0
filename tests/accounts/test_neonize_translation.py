"""The neonize adapter fed hand-built neonize protobuf events (every required proto2 field filled)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from neonize import events as nev
from neonize.proto import Neonize_pb2 as npb
from neonize.proto.waCommon.WACommon_pb2 import MessageKey
from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e

from accounts.runtime.drivers.neonize_driver import NeonizeDriver
from accounts.runtime.drivers.neonize_translation import CONNECTION_TRANSLATORS, message_translate, receipt_translate
from wildcat.whatsapp import DriverEventType, MessageType, ReceiptType

PEER = "5511999990000"
ME = "5511888880000"
STAMP_MS = 1_767_225_600_123  # 2026-01-01T00:00:00.123Z


# --- builders (shared with the other neonize test modules) -----------------------------------------
def jid(user: str = "", server: str = "s.whatsapp.net", device: int = 0) -> npb.JID:
    return npb.JID(User=user, Server=server if user else "", RawAgent=0, Device=device, Integrator=0, IsEmpty=not user)


def source(*, chat: npb.JID | None = None, sender: npb.JID | None = None, from_me=False, group=False, sender_alt=None):
    chat = chat or jid(PEER)
    return npb.MessageSource(
        Chat=chat,
        Sender=sender or chat,
        IsFromMe=from_me,
        IsGroup=group,
        SenderAlt=sender_alt or jid(),
        RecipientAlt=jid(),
        BroadcastListOwner=jid(),
    )


# whatsmeow's UnwrapRaw (types/events/events.go:372-420): the wrappers it removes before the event
# reaches neonize, in its order, and the flags each sets on events.Message.
UNWRAPPED_BY_WHATSMEOW = (
    ("deviceSentMessage", ()),
    ("botInvokeMessage", ()),
    ("ephemeralMessage", ("IsEphemeral",)),
    ("viewOnceMessage", ("IsViewOnce",)),
    ("viewOnceMessageV2", ("IsViewOnce", "IsViewOnceV2")),
    ("viewOnceMessageV2Extension", ("IsViewOnce", "IsViewOnceV2", "IsViewOnceV2Extension")),
    ("lottieStickerMessage", ("IsLottieSticker",)),
    ("documentWithCaptionMessage", ("IsDocumentWithCaption",)),
    ("editedMessage", ("IsEdit",)),
)
# The sender's client names the stanza's type and media type (whatsmeow send.go:908-987, getTypeFromMessage
# and getMediaTypeFromMessage); the receiver reads them back as Info.Type and Info.MediaType (message.go:236, :267).
SENDER_MEDIA_TYPES = {
    "imageMessage": "image",
    "stickerMessage": "sticker",
    "documentMessage": "document",
    "contactMessage": "vcard",
    "contactsArrayMessage": "contact_array",
}


def _sender_types(message: e2e.Message) -> tuple[str, str]:
    media = next((kind for field, kind in SENDER_MEDIA_TYPES.items() if message.HasField(field)), "")
    if message.HasField("audioMessage"):
        media = "ptt" if message.audioMessage.PTT else "audio"
    elif message.HasField("videoMessage"):
        media = "gif" if message.videoMessage.gifPlayback else "video"
    elif message.HasField("extendedTextMessage") and message.extendedTextMessage.HasField("title"):
        media = "url"
    if message.HasField("reactionMessage"):
        return "reaction", media
    if message.HasField("pollCreationMessage") or message.HasField("pollUpdateMessage"):
        return "poll", media
    return ("media" if media else "text"), media


def message_event(
    content: e2e.Message, *, msg_id="3EB0AAA", src=None, edit="", push_name="Ana", addressing=None
) -> npb.Message:
    """A MessageEv as goneonize encodes it (utils/encoder.go:303-327) from ``content`` as it was sent.

    whatsmeow unwraps ``content`` first (UNWRAPPED_BY_WHATSMEOW) and goneonize sends the unwrapped
    message as both ``Message`` and ``Raw`` (encoder.go:315, :323-325).
    """
    flags = dict.fromkeys(
        (
            "IsEphemeral",
            "IsViewOnce",
            "IsViewOnceV2",
            "IsViewOnceV2Extension",
            "IsDocumentWithCaption",
            "IsLottieSticker",
            "IsEdit",
        ),
        False,
    )
    unwrapped = content
    for wrapper, set_flags in UNWRAPPED_BY_WHATSMEOW:
        if getattr(unwrapped, wrapper).HasField("message"):
            unwrapped = getattr(unwrapped, wrapper).message
            flags.update(dict.fromkeys(set_flags, True))
    kind, media_type = _sender_types(unwrapped)  # the sender's view skips the same wrappers (send.go:910-921)
    message_source = src or source()
    if addressing is not None:
        message_source.AddressingMode = addressing
    info = npb.MessageInfo(
        MessageSource=message_source,
        ID=msg_id,
        ServerID=0,
        Type=kind,
        Pushname=push_name,
        Timestamp=STAMP_MS,
        Category="",
        Multicast=False,
        MediaType=media_type,
        Edit=edit or ("1" if flags["IsEdit"] else ""),
    )
    return npb.Message(Info=info, Message=unwrapped, Raw=unwrapped, UnavailableRequestID="", RetryCount=0, **flags)


def receipt_event(kind: int, ids=("3EB0AAA",), timestamp=1_767_225_600, chat: npb.JID | None = None) -> npb.Receipt:
    """A receipt from ``chat`` (default: the peer's phone-number JID).

    A receipt for a one-to-one send comes from the recipient's ``@lid`` chat: whatsmeow sends 1:1
    messages to the LID (send.go:351) and takes the receipt's chat from the node's sender (receipt.go:67).
    """
    return npb.Receipt(MessageSource=source(chat=chat), MessageIDs=list(ids), Timestamp=timestamp, Type=kind)


def media_fields(**extra):
    base = {"URL": "https://mmg.example/x", "mimetype": "image/jpeg", "fileLength": 2048, "directPath": "/v/t62/x"}
    return {**base, **extra}


def roundtrip(event):
    """Serialize and parse: proves every required field is filled, as Go would send it."""
    return type(event).FromString(event.SerializeToString())


# --- connection events ---------------------------------------------------------------------------
def _failure_node(reason: str) -> npb.Node:
    """The raw ``<failure reason="…"/>`` as goneonize encodes it: attribute values are strings (encoder.go:628-658)."""
    return npb.Node(Tag="failure", Attrs=[npb.NodeAttrs(name="reason", text=reason)], Nil=True)


def _connection_events():
    # whatsmeow connectionevents.go:152-154 dispatches ConnectFailure only from its default branch:
    # 401/403/406 become LoggedOut, 402 TemporaryBan, 405 ClientOutdated, 500/503 reconnect silently
    # (lines 108-151), so the encodable reasons that reach Python are 400, 409 and 501.
    stream_node = npb.Node(Tag="stream:error", Attrs=[npb.NodeAttrs(name="code", text="500")], Nil=True)
    return {
        "paired": npb.PairStatus(
            ID=jid(ME, device=7), BusinessName="Acme", Platform="android", Status=npb.PairStatus.SUCCESS
        ),
        "pair_error": npb.PairStatus(ID=jid(), BusinessName="", Platform="", Status=npb.PairStatus.ERROR, Error="bad"),
        "connected": npb.Connected(status=True),
        "logged_out": npb.LoggedOut(OnConnect=True, Reason=npb.MAIN_DEVICE_GONE),
        "stream_replaced": npb.StreamReplaced(),
        "ban": npb.TemporaryBan(Code=npb.TemporaryBan.SEND_TO_TOO_MANY_PEOPLE, Expire=3600),
        "cf_generic": npb.ConnectFailure(Reason=npb.GENERIC, Message="", Raw=_failure_node("400")),
        "cf_bad_user_agent": npb.ConnectFailure(Reason=npb.BAD_USER_AGENT, Message="", Raw=_failure_node("409")),
        "cf_experimental": npb.ConnectFailure(Reason=npb.EXPERIMENTAL, Message="", Raw=_failure_node("501")),
        "ka_timeout": npb.KeepAliveTimeout(ErrorCount=3, LastSuccess=1_767_225_000),
        "ka_restored": npb.KeepAliveRestored(),
        "disconnected": npb.Disconnected(status=True),
        "outdated": npb.ClientOutdated(),
        # A code whatsmeow does not handle itself (515, 401 device_removed, conflict "replaced" and 503
        # are: connectionevents.go:26-55), so it reaches its default branch (lines 66-68).
        "stream_error": npb.StreamError(Code="500", Raw=stream_node),
        "chat_presence": npb.ChatPresence(
            MessageSource=source(), State=npb.ChatPresence.COMPOSING, Media=npb.ChatPresence.TEXT
        ),
        "presence": npb.Presence(From=jid(PEER), Unavailable=False, LastSeen=0),
        "group_info": npb.GroupInfoEvent(
            JID=jid("120363000000000001", "g.us"),
            Notify="",
            Timestamp=1,
            PrevParticipantsVersionID="",
            ParticipantVersionID="",
            JoinReason="",
        ),
        "undecryptable": npb.UndecryptableMessage(
            Info=message_event(e2e.Message()).Info,
            IsUnavailable=False,
            DecryptFailMode=npb.UndecryptableMessage.DECRYPT_FAIL_SHOW,
        ),
    }


EXPECTED = {
    "paired": (DriverEventType.PAIRED, ""),
    "pair_error": (DriverEventType.DISCONNECTED, "pair_error"),
    "connected": (DriverEventType.CONNECTED, ""),
    "logged_out": (DriverEventType.LOGGED_OUT, "main_device_gone"),
    "stream_replaced": (DriverEventType.DISCONNECTED, "stream_replaced"),
    "ban": (DriverEventType.TEMPORARY_BAN, "temporary_ban"),
    "cf_generic": (DriverEventType.DISCONNECTED, "connect_failure"),
    "cf_bad_user_agent": (DriverEventType.DISCONNECTED, "connect_failure"),
    "cf_experimental": (DriverEventType.DISCONNECTED, "connect_failure"),
    "ka_timeout": (DriverEventType.DISCONNECTED, "keepalive_timeout"),
    "ka_restored": (DriverEventType.CONNECTED, ""),
    "disconnected": (DriverEventType.DISCONNECTED, "disconnected"),
    "outdated": (DriverEventType.DISCONNECTED, "client_outdated"),
    "stream_error": (DriverEventType.DISCONNECTED, "stream_error"),
    "chat_presence": (DriverEventType.KEEPALIVE, ""),
    "presence": (DriverEventType.KEEPALIVE, ""),
    "group_info": (DriverEventType.KEEPALIVE, ""),
    "undecryptable": (DriverEventType.KEEPALIVE, ""),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_connection_event_translation(name):
    event = roundtrip(_connection_events()[name])
    translated = CONNECTION_TRANSLATORS[type(event)](event)
    assert (translated.type, translated.reason) == EXPECTED[name]


def test_every_event_in_the_neonize_table_is_mapped():
    table = {
        nev.PairStatusEv, nev.ConnectedEv, nev.LoggedOutEv, nev.StreamReplacedEv, nev.TemporaryBanEv,
        nev.ConnectFailureEv, nev.KeepAliveTimeoutEv, nev.KeepAliveRestoredEv, nev.DisconnectedEv,
        nev.ChatPresenceEv, nev.PresenceEv, nev.GroupInfoEv, nev.UndecryptableMessageEv,
    }  # fmt: skip
    assert table <= set(CONNECTION_TRANSLATORS)
    # goneonize main.go:790-799 encodes events.HistorySync (the whole blob) only for subscribers of 13.
    assert nev.HistorySyncEv not in CONNECTION_TRANSLATORS
    # every mapped event is exercised by the parametrized translation test
    assert {type(event) for event in _connection_events().values()} == set(CONNECTION_TRANSLATORS)


def test_paired_carries_the_account_and_ban_its_expiry():
    events = _connection_events()
    paired = CONNECTION_TRANSLATORS[nev.PairStatusEv](events["paired"])
    assert paired.account.whatsapp_id == f"{ME}:7@s.whatsapp.net"
    assert (paired.account.phone_number, paired.account.profile_name, paired.account.platform) == (
        ME,
        "Acme",
        "android",
    )
    ban = CONNECTION_TRANSLATORS[nev.TemporaryBanEv](events["ban"])
    assert ban.detail == {"code": "send_to_too_many_people", "expires_in": 3600}
    group = CONNECTION_TRANSLATORS[nev.GroupInfoEv](events["group_info"])
    assert group.detail == {"group_jid": "120363000000000001@g.us"}


# --- receipts --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (npb.Receipt.DELIVERED, ReceiptType.DELIVERED),
        (npb.Receipt.READ, ReceiptType.READ),
        (npb.Receipt.PLAYED, ReceiptType.PLAYED),
    ],
)
def test_receipts_map_their_type_and_seconds(kind, expected):
    event = receipt_translate(roundtrip(receipt_event(kind, ids=("A1", "A2"))))
    assert event.type == DriverEventType.RECEIPT
    assert event.receipt.type == expected
    assert event.receipt.wa_message_ids == ("A1", "A2")
    assert event.receipt.chat_jid == f"{PEER}@s.whatsapp.net"
    assert event.receipt.timestamp == datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("kind", [npb.Receipt.READ_SELF, npb.Receipt.RETRY, npb.Receipt.SENDER])
def test_other_receipt_kinds_are_dropped(kind):
    assert receipt_translate(receipt_event(kind)) is None


# --- messages --------------------------------------------------------------------------------------
def _translate(content, **kwargs):
    return message_translate(roundtrip(message_event(content, **kwargs)))


def test_text_message_with_millisecond_timestamp_and_push_name():
    msg = _translate(e2e.Message(conversation="hello"))
    assert (msg.type, msg.text, msg.push_name, msg.wa_message_id) == (MessageType.TEXT, "hello", "Ana", "3EB0AAA")
    assert msg.timestamp == datetime(2026, 1, 1, 0, 0, 0, 123000, tzinfo=UTC)
    assert (msg.chat_jid, msg.sender_jid, msg.from_me, msg.is_group) == (
        f"{PEER}@s.whatsapp.net", f"{PEER}@s.whatsapp.net", False, False
    )  # fmt: skip
    assert msg.raw["info"]["ID"] == "3EB0AAA"


def test_extended_text_with_quote():
    content = e2e.Message(
        extendedTextMessage=e2e.ExtendedTextMessage(text="yes", contextInfo=e2e.ContextInfo(stanzaID="3EB0QUOTED"))
    )
    msg = _translate(content)
    assert (msg.type, msg.text, msg.quoted_wa_message_id) == (MessageType.TEXT, "yes", "3EB0QUOTED")


@pytest.mark.parametrize(
    ("field", "cls", "kind", "extra"),
    [
        ("imageMessage", e2e.ImageMessage, MessageType.IMAGE, {"caption": "look"}),
        ("videoMessage", e2e.VideoMessage, MessageType.VIDEO, {"caption": "look", "seconds": 9}),
        ("audioMessage", e2e.AudioMessage, MessageType.AUDIO, {"PTT": True, "seconds": 4}),
        ("documentMessage", e2e.DocumentMessage, MessageType.DOCUMENT, {"caption": "look", "fileName": "a.pdf"}),
        ("stickerMessage", e2e.StickerMessage, MessageType.STICKER, {}),
    ],
)
def test_media_messages_keep_caption_and_details(field, cls, kind, extra):
    msg = _translate(e2e.Message(**{field: cls(**media_fields(**extra))}))
    assert msg.type == kind
    assert msg.text == extra.get("caption", "")
    assert msg.content["size"] == 2048 and msg.content["mimetype"] == "image/jpeg"
    assert msg.media is None  # bytes are downloaded later, on the command thread
    if kind == MessageType.AUDIO:
        assert msg.content["voice_note"] is True and msg.content["seconds"] == 4
    if kind == MessageType.DOCUMENT:
        assert msg.content["filename"] == "a.pdf"


def test_location_contact_and_poll():
    location = _translate(
        e2e.Message(locationMessage=e2e.LocationMessage(degreesLatitude=-23.5, degreesLongitude=-46.6, name="SP"))
    )
    assert location.type == MessageType.LOCATION
    assert (location.content["latitude"], location.content["longitude"], location.content["name"]) == (
        -23.5,
        -46.6,
        "SP",
    )
    vcard = "BEGIN:VCARD\nVERSION:3.0\nFN:Bob\nTEL;type=CELL;waid=5511777770000:+55 11 77777-0000\nEND:VCARD"
    contact = _translate(e2e.Message(contactMessage=e2e.ContactMessage(displayName="Bob", vcard=vcard)))
    assert (contact.type, contact.content["name"], contact.content["phone"]) == (
        MessageType.CONTACT,
        "Bob",
        "5511777770000",
    )
    options = [e2e.PollCreationMessage.Option(optionName=name) for name in ("red", "blue")]
    poll = _translate(
        e2e.Message(
            pollCreationMessageV3=e2e.PollCreationMessage(name="Color?", options=options, selectableOptionsCount=1)
        )
    )
    assert poll.type == MessageType.POLL
    assert poll.content == {"name": "Color?", "options": ["red", "blue"], "selectable_count": 1}


def test_reaction_points_at_its_target():
    key = MessageKey(remoteJID=f"{PEER}@s.whatsapp.net", fromMe=True, ID="3EB0MINE")
    msg = _translate(e2e.Message(reactionMessage=e2e.ReactionMessage(key=key, text="👍", senderTimestampMS=1)))
    assert (msg.type, msg.reacts_to_wa_message_id, msg.text) == (MessageType.REACTION, "3EB0MINE", "👍")
    assert msg.content["target_from_me"] is True and msg.content["removed"] is False


def test_edit_and_revoke_point_at_the_original():
    key = MessageKey(remoteJID=f"{PEER}@s.whatsapp.net", fromMe=False, ID="3EB0ORIG")
    edit = e2e.ProtocolMessage(
        key=key, type=e2e.ProtocolMessage.MESSAGE_EDIT, editedMessage=e2e.Message(conversation="fixed")
    )
    # A phone sends an edit as editedMessage{protocolMessage MESSAGE_EDIT}; whatsmeow hands over the
    # protocolMessage with IsEdit set (events.go:412-415), which is what message_event builds.
    sent = e2e.Message(editedMessage=e2e.FutureProofMessage(message=e2e.Message(protocolMessage=edit)))
    event = message_event(sent)
    assert event.IsEdit and event.Message.HasField("protocolMessage") and not event.Message.HasField("editedMessage")
    msg = message_translate(roundtrip(event))
    assert (msg.type, msg.text, msg.edits_wa_message_id) == (MessageType.TEXT, "fixed", "3EB0ORIG")
    revoke = _translate(e2e.Message(protocolMessage=e2e.ProtocolMessage(key=key, type=e2e.ProtocolMessage.REVOKE)))
    assert (revoke.revokes_wa_message_id, revoke.type) == ("3EB0ORIG", MessageType.UNKNOWN)


def test_protocol_noise_is_not_a_message():
    noise = e2e.ProtocolMessage(type=e2e.ProtocolMessage.APP_STATE_SYNC_KEY_SHARE)
    assert _translate(e2e.Message(protocolMessage=noise)) is None
    assert _translate(e2e.Message()) is None


def test_group_message_from_a_lid_sender_resolves_the_phone_number():
    group = jid("120363000000000001", "g.us")
    # message.go:105-109: in a LID-addressed group SenderAlt is the participant_pn attribute, and
    # :186-188 copies the sender's device onto it.
    src = source(chat=group, sender=jid("987654321", "lid", device=3), group=True, sender_alt=jid(PEER, device=3))
    msg = _translate(e2e.Message(conversation="hi all"), src=src, addressing=npb.LID)
    assert (msg.chat_jid, msg.sender_jid, msg.is_group) == ("120363000000000001@g.us", f"{PEER}@s.whatsapp.net", True)


def test_own_message_from_the_phone_is_from_me():
    src = source(chat=jid(PEER), sender=jid(ME, device=0), from_me=True)
    msg = _translate(e2e.Message(conversation="sent from my phone"), src=src)
    assert msg.from_me is True and msg.sender_jid == f"{ME}@s.whatsapp.net" and msg.chat_jid == f"{PEER}@s.whatsapp.net"


def test_view_once_and_disappearing_media_arrive_as_their_inner_message():
    inner = e2e.Message(imageMessage=e2e.ImageMessage(**media_fields(caption="once")))
    once = e2e.Message(viewOnceMessageV2=e2e.FutureProofMessage(message=inner))
    sent = e2e.Message(ephemeralMessage=e2e.FutureProofMessage(message=once))
    event = message_event(sent)
    assert (event.IsEphemeral, event.IsViewOnce, event.IsViewOnceV2) == (True, True, True)
    assert (event.Info.Type, event.Info.MediaType) == ("media", "image")
    msg = message_translate(roundtrip(event))
    assert (msg.type, msg.text) == (MessageType.IMAGE, "once")


# --- the driver's handlers: translate, emit, and keep media for the command thread ----------------
def _driver():
    events = []
    return NeonizeDriver(connection_id=41, emit=events.append), events


def test_driver_handlers_emit_and_track_login(settings):
    driver, events = _driver()
    connection_events = _connection_events()
    driver._on_qr(None, b"2@ref,noise,identity,adv")
    driver._on_qr(None, b"2@ref2,noise,identity,adv")
    assert [(e.type, e.qr, e.detail["expires_in"]) for e in events] == [
        (DriverEventType.QR, "2@ref,noise,identity,adv", 60),
        (DriverEventType.QR, "2@ref2,noise,identity,adv", 20),
    ]
    driver._on_connection_event(None, connection_events["paired"])
    assert driver.is_logged_in() and driver._own_jid == f"{ME}:7@s.whatsapp.net"
    driver._on_connection_event(None, connection_events["connected"])
    assert events[-1].type == DriverEventType.CONNECTED and events[-1].account.phone_number == ME
    driver._on_connection_event(None, connection_events["logged_out"])
    assert not driver.is_logged_in() and events[-1].reason == "main_device_gone"


def test_keepalive_activity_is_throttled():
    driver, events = _driver()
    presence = _connection_events()["presence"]
    for _ in range(5):
        driver._on_connection_event(None, presence)
    assert [e.type for e in events] == [DriverEventType.KEEPALIVE]


def test_text_is_emitted_at_once_and_media_waits_for_tick_in_order():
    driver, events = _driver()
    driver._on_message(None, message_event(e2e.Message(conversation="first"), msg_id="M1"))
    assert [e.message.wa_message_id for e in events] == ["M1"]
    image = e2e.Message(imageMessage=e2e.ImageMessage(**media_fields(fileLength=10**12)))
    driver._on_message(None, message_event(image, msg_id="M2"))
    driver._on_message(None, message_event(e2e.Message(conversation="third"), msg_id="M3"))
    assert len(events) == 1  # nothing may overtake the media message
    driver.tick(0.0)
    assert [e.message.wa_message_id for e in events] == ["M1", "M2", "M3"]
    oversized = events[1].message
    assert oversized.media is None and oversized.content["media_skipped"].startswith("too_large")


def test_history_sync_is_not_subscribed(settings, tmp_path):
    # neonize sends Go the codes of the registered handlers (neonize/client.py:3385); goneonize
    # main.go:790-799 marshals a HistorySync only when code 13 is among them.
    settings.DATA_DIR, settings.DATABASE_URL = tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}"
    driver, _events = _driver()
    client = driver._client_build()
    assert nev.EVENT_TO_INT[nev.HistorySyncEv] == 13
    assert 13 not in client.event.list_func
    assert {nev.EVENT_TO_INT[nev.MessageEv], nev.EVENT_TO_INT[nev.ReceiptEv]} <= set(client.event.list_func)
