"""Translates neonize events (protobufs from whatsmeow) into Wildcat's driver-neutral ``DriverEvent``.

Pure functions: no neonize calls, no I/O, so they are safe on neonize's event thread and easy to test.

| neonize event              | DriverEvent                                                                |
|----------------------------|----------------------------------------------------------------------------|
| ``PairStatusEv`` success   | PAIRED with ``AccountInfo`` (JID with device, phone, business name, platform) |
| ``PairStatusEv`` error     | DISCONNECTED, reason ``pair_error`` (the sink records auth_failed); with    |
|                            | neonize 0.5.2 a pairing error arrives as a login status (``neonize_login``) |
| ``ConnectedEv``            | CONNECTED                                                                  |
| ``LoggedOutEv``            | LOGGED_OUT, reason = whatsmeow's reason (``logged_out``, ``main_device_gone``…) |
| ``StreamReplacedEv``       | DISCONNECTED, reason ``stream_replaced``                                    |
| ``TemporaryBanEv``         | TEMPORARY_BAN, detail ``code`` and ``expires_in`` (seconds)                  |
| ``ConnectFailureEv``       | DISCONNECTED, reason ``connect_failure``, detail ``code``: only reasons     |
|                            | whatsmeow does not turn into another event (400, 409, 501)                  |
| unencodable ban or failure | TEMPORARY_BAN, or DISCONNECTED ``connect_failure`` (``connect_error_translate``) |
| ``KeepAliveTimeoutEv``     | DISCONNECTED, reason ``keepalive_timeout`` (whatsmeow keeps retrying)        |
| ``KeepAliveRestoredEv``    | CONNECTED (the socket never closed, so no ``ConnectedEv`` follows)           |
| ``DisconnectedEv``         | DISCONNECTED, reason ``disconnected`` (whatsmeow reconnects by itself)      |
| ``ClientOutdatedEv``       | DISCONNECTED, reason ``client_outdated`` (WhatsApp refuses this version)     |
| ``StreamErrorEv``          | DISCONNECTED, reason ``stream_error``, detail ``code`` (codes whatsmeow     |
|                            | does not handle itself)                                                     |
| ``MessageEv``              | MESSAGE with an ``InboundMessage``; kinds not read become ``unknown``;       |
|                            | protocol noise (key shares, history notifications) is dropped, and so are   |
|                            | status posts (``status@broadcast``, status shared into groups) and          |
|                            | ``newsletter`` (channel) posts; a contact's broadcast-list message goes to  |
|                            | the direct chat with the sender; poll votes are decrypted by the driver     |
|                            | (``neonize_content``)                                                       |
| ``ReceiptEv``              | RECEIPT for delivered, read and played; other receipt kinds are dropped    |
| ``ChatPresenceEv``         | KEEPALIVE (traffic proves the socket is alive; typing is not stored)         |
| ``PresenceEv``             | KEEPALIVE                                                                  |
| ``GroupInfoEv``            | KEEPALIVE, detail ``group_jid`` (group lists are read on demand)            |
| ``HistorySyncEv``          | not subscribed: goneonize would encode the whole history blob and neonize  |
|                            | parse it on the event thread; history is not imported                      |
| ``UndecryptableMessageEv`` | KEEPALIVE, detail ``undecryptable`` with the message id; logged as a warning |

Timestamps: ``MessageInfo.Timestamp`` is milliseconds; receipts and send responses are seconds.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime
from typing import Any

from google.protobuf.json_format import MessageToDict
from neonize import events as nev
from neonize.proto import Neonize_pb2 as npb
from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e

from accounts.runtime.drivers.neonize_content import CONTENT_READERS, unknown_content
from accounts.runtime.drivers.neonize_messages import jid_string, jid_user_string
from wildcat.whatsapp import (
    AccountInfo,
    DriverEvent,
    DriverEventType,
    InboundMessage,
    MessageType,
    Receipt,
    ReceiptType,
)

logger = logging.getLogger(__name__)
BROADCAST_SERVER = "broadcast"  # status@broadcast, and each broadcast list (whatsmeow types/jid.go:120-123)
NEWSLETTER_SERVER = "newsletter"
MEDIA_FIELDS = {
    "imageMessage": MessageType.IMAGE,
    "videoMessage": MessageType.VIDEO,
    "audioMessage": MessageType.AUDIO,
    "documentMessage": MessageType.DOCUMENT,
    "stickerMessage": MessageType.STICKER,
    "ptvMessage": MessageType.VIDEO,
}
# Status features that arrive in ordinary chats (a status shared into a group, a mention in
# someone's status): status posts, so never messages.
STATUS_WRAPPERS = frozenset(
    {
        "statusMentionMessage",
        "groupStatusMentionMessage",
        "groupStatusMessage",
        "groupStatusMessageV2",
        "statusAddYours",
    }
)
# Every other FutureProofMessage field wraps the real content. whatsmeow's UnwrapRaw
# (types/events/events.go:372-420) removes the ephemeral, view-once, document-with-caption, lottie,
# bot-invoke and edited wrappers before the event reaches us; the rest (album items in
# ``associatedChildMessage``, mentions, spoilers, forwarded bot replies…) are unwrapped here.
WRAPPERS = tuple(
    field.name
    for field in e2e.Message.DESCRIPTOR.fields
    if field.message_type is e2e.FutureProofMessage.DESCRIPTOR and field.name not in STATUS_WRAPPERS
)
# The Message field whatsmeow's DownloadAny reads for each media part type.
_DOWNLOAD_FIELDS = {
    "ImageMessage": "imageMessage",
    "VideoMessage": "videoMessage",
    "AudioMessage": "audioMessage",
    "DocumentMessage": "documentMessage",
    "StickerMessage": "stickerMessage",
}
_RECEIPT_TYPES = {
    npb.Receipt.DELIVERED: ReceiptType.DELIVERED,
    npb.Receipt.READ: ReceiptType.READ,
    npb.Receipt.PLAYED: ReceiptType.PLAYED,
}


def seconds_to_datetime(value: int) -> datetime:
    return datetime.fromtimestamp(int(value or 0), tz=UTC)


def millis_to_datetime(value: int) -> datetime:
    return datetime.fromtimestamp(int(value or 0) / 1000, tz=UTC)


def _enum_name(message: Any, field: str) -> str:
    descriptor = message.DESCRIPTOR.fields_by_name[field].enum_type
    value = descriptor.values_by_number.get(getattr(message, field))
    return value.name if value is not None else str(getattr(message, field))


# --- connection events ---------------------------------------------------------------------------
def pair_status_translate(event: npb.PairStatus) -> DriverEvent:
    if event.Status == npb.PairStatus.SUCCESS:
        account = AccountInfo(
            whatsapp_id=jid_string(event.ID),
            phone_number=event.ID.User if event.ID.Server == "s.whatsapp.net" else "",
            profile_name=event.BusinessName,
            platform=event.Platform,
        )
        return DriverEvent(type=DriverEventType.PAIRED, account=account)
    return DriverEvent(type=DriverEventType.DISCONNECTED, reason="pair_error", detail={"error": event.Error})


def logged_out_translate(event: npb.LoggedOut) -> DriverEvent:
    reason = _enum_name(event, "Reason").lower()
    return DriverEvent(type=DriverEventType.LOGGED_OUT, reason=reason, detail={"on_connect": event.OnConnect})


def temporary_ban_translate(event: npb.TemporaryBan) -> DriverEvent:
    code = _enum_name(event, "Code").lower()
    return DriverEvent(
        type=DriverEventType.TEMPORARY_BAN,
        reason="temporary_ban",
        detail={"code": code, "expires_in": int(event.Expire)},
    )


def connect_failure_translate(event: npb.ConnectFailure) -> DriverEvent:
    """A failure whatsmeow does not handle itself (connectionevents.go:152-154, the default branch).

    401/403/406 arrive as LoggedOut, 402 as TemporaryBan, 405 as ClientOutdated, and 500/503 reconnect
    with no event (connectionevents.go:126-151), so what remains encodable is 400, 409 and 501.
    """
    detail = {"code": _enum_name(event, "Reason").lower(), "message": event.Message}
    return DriverEvent(type=DriverEventType.DISCONNECTED, reason="connect_failure", detail=detail)


# goneonize encodes only ban codes 101-104 and 106 and the connect-failure reasons in its list
# (utils/encoder.go:574-625); for any other value the proto2-required field stays unset, Go's
# proto.Marshal refuses the event, and that error ends the event loop: Neonize() returns its text
# (main.go:2541-2543, 1174-1176) and neonize's connect() raises it. The text's "proto:" prefix varies.
UNENCODABLE_BAN = "required field neonize.TemporaryBan.Code not set"
UNENCODABLE_CONNECT_FAILURE = "required field neonize.ConnectFailure.Reason not set"
# The expiry of such a ban is lost with the event: wait an hour before connecting again (a ban still in
# force is reported again, and the wait starts over), instead of redialling every minute.
UNKNOWN_BAN_WAIT_SECONDS = 3600


def connect_error_translate(error: str) -> DriverEvent | None:
    """The event a ``connect()`` error stands for, or None for an ordinary failed connect."""
    if UNENCODABLE_BAN in error:
        detail = {"code": "unknown", "expires_in": UNKNOWN_BAN_WAIT_SECONDS}
        return DriverEvent(type=DriverEventType.TEMPORARY_BAN, reason="temporary_ban", detail=detail)
    if UNENCODABLE_CONNECT_FAILURE in error:
        return _disconnected("connect_failure", code="unknown", message=error[:300])
    return None


def _disconnected(reason: str, **detail: Any) -> DriverEvent:
    return DriverEvent(type=DriverEventType.DISCONNECTED, reason=reason, detail=detail)


def _keepalive(**detail: Any) -> DriverEvent:
    return DriverEvent(type=DriverEventType.KEEPALIVE, detail=detail)


def _undecryptable(event: npb.UndecryptableMessage) -> DriverEvent:
    logger.warning("undecryptable message %s in %s", event.Info.ID, jid_user_string(event.Info.MessageSource.Chat))
    return _keepalive(undecryptable=event.Info.ID, unavailable=event.IsUnavailable)


CONNECTION_TRANSLATORS = {
    nev.PairStatusEv: pair_status_translate,
    nev.ConnectedEv: lambda event: DriverEvent(type=DriverEventType.CONNECTED),
    nev.LoggedOutEv: logged_out_translate,
    nev.StreamReplacedEv: lambda event: _disconnected("stream_replaced"),
    nev.TemporaryBanEv: temporary_ban_translate,
    nev.ConnectFailureEv: connect_failure_translate,
    nev.KeepAliveTimeoutEv: lambda event: _disconnected(
        "keepalive_timeout", error_count=event.ErrorCount, last_success=event.LastSuccess
    ),
    nev.KeepAliveRestoredEv: lambda event: DriverEvent(type=DriverEventType.CONNECTED, detail={"keepalive": True}),
    nev.DisconnectedEv: lambda event: _disconnected("disconnected"),
    nev.ClientOutdatedEv: lambda event: _disconnected("client_outdated"),
    nev.StreamErrorEv: lambda event: _disconnected("stream_error", code=event.Code),
    nev.ChatPresenceEv: lambda event: _keepalive(),
    nev.PresenceEv: lambda event: _keepalive(),
    nev.GroupInfoEv: lambda event: _keepalive(group_jid=jid_user_string(event.JID)),
    nev.UndecryptableMessageEv: _undecryptable,
}


# --- receipts --------------------------------------------------------------------------------------
def receipt_translate(event: npb.Receipt) -> DriverEvent | None:
    kind = _RECEIPT_TYPES.get(event.Type)
    if kind is None or not event.MessageIDs:
        logger.debug("ignoring a %s receipt", _enum_name(event, "Type"))
        return None
    receipt = Receipt(
        wa_message_ids=tuple(event.MessageIDs),
        chat_jid=jid_user_string(event.MessageSource.Chat),
        type=kind,
        timestamp=seconds_to_datetime(event.Timestamp),
    )
    return DriverEvent(type=DriverEventType.RECEIPT, receipt=receipt)


def receipt_with_queued_ids(event: DriverEvent, queued_ids: dict[str, str]) -> DriverEvent:
    """The receipt also naming the queued id of each message the driver sent under another id.

    whatsmeow chooses every message id (send.go:210-211); the outbox records it only after its batch, and
    keeps the queued id if another row already holds whatsmeow's. Either way the receipt must find it.
    """
    receipt = event.receipt
    if receipt is None:
        return event
    queued = [queued_ids[i] for i in receipt.wa_message_ids if i in queued_ids]
    if not queued:
        return event
    ids = tuple(dict.fromkeys((*receipt.wa_message_ids, *queued)))
    return dataclasses.replace(event, receipt=dataclasses.replace(receipt, wa_message_ids=ids))


# --- messages --------------------------------------------------------------------------------------
def _unwrap(message: e2e.Message) -> e2e.Message:
    for _ in range(4):
        for wrapper in WRAPPERS:
            if message.HasField(wrapper) and message_field(message, wrapper).HasField("message"):
                message = message_field(message, wrapper).message
                break
        else:
            return message
    return message


def message_field(message: Any, name: str) -> Any:
    return getattr(message, name)


def sender_resolve(source: npb.MessageSource) -> tuple[str, str]:
    """(chat, sender) as phone-number JIDs where WhatsApp gave a privacy ``@lid`` and the alternative."""
    sender = source.Sender
    if sender.Server == "lid" and source.SenderAlt.User:
        sender = source.SenderAlt
    chat = source.Chat
    if chat.Server == "lid" and not source.IsGroup:
        alternative = source.RecipientAlt if source.IsFromMe else source.SenderAlt
        if alternative.User:
            chat = alternative
    return jid_user_string(chat), jid_user_string(sender)


def media_message(message: e2e.Message) -> tuple[Any, int] | None:
    """The media part of a (unwrapped) message and its declared size, or None for messages without media."""
    message = _unwrap(message)
    for name in MEDIA_FIELDS:
        if message.HasField(name):
            part = message_field(message, name)
            return part, int(part.fileLength or 0)
    return None


def media_download_message(part: Any) -> e2e.Message:
    """The media part alone, wrapped in the message field of its own type, for neonize's ``download_any``.

    whatsmeow's ``DownloadAny`` (download.go:127) looks only at the top-level image, video, audio,
    document and sticker fields: a video note (``ptvMessage``, a VideoMessage) or a part inside a
    wrapper is "didn't find any attachments in message" unless handed over this way.
    """
    field = _DOWNLOAD_FIELDS[part.DESCRIPTOR.name]
    wrapped = e2e.Message()
    message_field(wrapped, field).CopyFrom(part)
    return wrapped


def is_chat_message(source: npb.MessageSource) -> bool:
    """False for what is not a chat: status posts, channel posts, and our own broadcast-list sends.

    whatsmeow delivers a contact's status post from ``status@broadcast`` (types/jid.go:42) and a
    channel post with the channel as chat and sender (message.go:139-141). A message a contact sent
    to one of their broadcast lists comes from ``<list>@broadcast`` but "shows up in the direct chat
    with the Sender" (types/message.go:43-48): that one is a chat message. One we sent to our own list
    from the phone names only the list, not a chat (message.go:114-137), so it is not stored.
    """
    chat = source.Chat
    if chat.Server == NEWSLETTER_SERVER:
        return False
    if chat.Server == BROADCAST_SERVER:
        return chat.User != "status" and not source.IsFromMe
    return True


def message_translate(event: npb.Message) -> InboundMessage | None:
    """An ``InboundMessage`` without media bytes (the driver downloads them), or None for protocol noise."""
    info = event.Info
    source = info.MessageSource
    if not is_chat_message(source):
        logger.debug("ignoring message %s in %s", info.ID, jid_user_string(source.Chat))
        return None
    content = _content(_unwrap(event.Message))
    if content is None:
        logger.debug("ignoring message %s without user content", info.ID)
        return None
    chat, sender = sender_resolve(source)
    is_group = source.IsGroup
    if source.Chat.Server == BROADCAST_SERVER:  # a contact's broadcast list: their direct chat with us
        chat, is_group = sender, False
    return InboundMessage(
        wa_message_id=info.ID,
        chat_jid=chat,
        sender_jid=sender,
        from_me=source.IsFromMe,
        is_group=is_group,
        timestamp=millis_to_datetime(info.Timestamp),
        push_name=info.Pushname,
        raw={"info": MessageToDict(info, preserving_proto_field_name=True)},
        **content,
    )


def _content(message: e2e.Message) -> dict[str, Any] | None:
    if any(message.HasField(field) for field in STATUS_WRAPPERS):
        return None
    for field, reader in _READERS:
        if message.HasField(field):
            return reader(message_field(message, field))
    if message.conversation:
        return {"type": MessageType.TEXT, "text": message.conversation}
    return unknown_content(message)


def _quoted(part: Any) -> str:
    return part.contextInfo.stanzaID if part.HasField("contextInfo") else ""


def _text(part: e2e.ExtendedTextMessage) -> dict[str, Any]:
    return {"type": MessageType.TEXT, "text": part.text, "quoted_wa_message_id": _quoted(part)}


def _media_reader(kind: MessageType, field: str):
    def read(part: Any) -> dict[str, Any]:
        details: dict[str, Any] = {"mimetype": part.mimetype, "size": int(part.fileLength or 0)}
        if kind == MessageType.AUDIO:
            details.update(voice_note=part.PTT, seconds=part.seconds)
        elif kind == MessageType.VIDEO:
            details.update(video_note=field == "ptvMessage", seconds=part.seconds)
        elif kind == MessageType.DOCUMENT:
            details["filename"] = part.fileName
        text = part.caption if kind in (MessageType.IMAGE, MessageType.VIDEO, MessageType.DOCUMENT) else ""
        return {"type": kind, "text": text, "content": details, "quoted_wa_message_id": _quoted(part)}

    return read


def _location(part: e2e.LocationMessage) -> dict[str, Any]:
    details = {
        "latitude": part.degreesLatitude,
        "longitude": part.degreesLongitude,
        "name": part.name,
        "address": part.address,
    }
    return {"type": MessageType.LOCATION, "content": details, "quoted_wa_message_id": _quoted(part)}


def _contact(part: e2e.ContactMessage) -> dict[str, Any]:
    phone = ""
    if "waid=" in part.vcard:
        phone = "".join(ch for ch in part.vcard.split("waid=", 1)[1].split(":", 1)[0] if ch.isdigit())
    details = {"name": part.displayName, "phone": phone, "vcard": part.vcard}
    return {
        "type": MessageType.CONTACT,
        "text": part.displayName,
        "content": details,
        "quoted_wa_message_id": _quoted(part),
    }


def _reaction(part: e2e.ReactionMessage) -> dict[str, Any]:
    details = {"emoji": part.text, "target_from_me": part.key.fromMe, "removed": not part.text}
    return {
        "type": MessageType.REACTION,
        "text": part.text,
        "content": details,
        "reacts_to_wa_message_id": part.key.ID,
    }


def _poll(part: e2e.PollCreationMessage) -> dict[str, Any]:
    details = {
        "name": part.name,
        "options": [option.optionName for option in part.options],
        "selectable_count": part.selectableOptionsCount,
    }
    return {"type": MessageType.POLL, "text": part.name, "content": details, "quoted_wa_message_id": _quoted(part)}


def _protocol(part: e2e.ProtocolMessage) -> dict[str, Any] | None:
    if part.type == e2e.ProtocolMessage.REVOKE:
        return {"type": MessageType.UNKNOWN, "revokes_wa_message_id": part.key.ID, "content": {"revoked": True}}
    if part.type == e2e.ProtocolMessage.MESSAGE_EDIT:
        edited = _content(_unwrap(part.editedMessage)) or {"type": MessageType.TEXT}
        edited.pop("quoted_wa_message_id", None)
        return {**edited, "edits_wa_message_id": part.key.ID}
    return None


# Every version of the poll creation message; V4 is a wrapper around one of the others.
POLL_FIELDS = tuple(
    field.name for field in e2e.Message.DESCRIPTOR.fields if field.message_type is e2e.PollCreationMessage.DESCRIPTOR
)

_READERS = (
    ("protocolMessage", _protocol),
    ("extendedTextMessage", _text),
    *((name, _media_reader(kind, name)) for name, kind in MEDIA_FIELDS.items()),
    ("locationMessage", _location),
    ("contactMessage", _contact),
    ("reactionMessage", _reaction),
    *((name, _poll) for name in POLL_FIELDS),
    *CONTENT_READERS,
)
