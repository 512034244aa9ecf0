"""Builds WhatsApp protobufs for outbound sends from Wildcat's driver-neutral ``OutboundMessage``.

Everything is built in Python from the proto classes neonize ships, rather than through neonize's
``send_image``/``build_*`` helpers, because those helpers fetch URLs themselves, detect MIME types
with libmagic, probe audio and video with ffmpeg, and some call into Go (``BuildReaction`` needs a
logged-in client, ``build_revoke`` calls ``get_me()``). Here the caller supplies the bytes and the
MIME type, so the only Go call left is the media upload, done through the ``upload`` callable.

Imported only by the neonize driver (it imports neonize's generated proto modules).
"""

from __future__ import annotations

import io
import mimetypes
import os
import time
from collections.abc import Callable
from typing import Any

from neonize.proto.Neonize_pb2 import JID, UploadResponse
from neonize.proto.waCommon.WACommon_pb2 import MessageKey
from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e
from neonize.utils.enum import MediaType
from PIL import Image

from wildcat.whatsapp import DriverError, MediaPayload, MessageType, OutboundMessage

USER_SERVER = "s.whatsapp.net"
ONE_TO_ONE_SERVERS = frozenset({USER_SERVER, "lid", "msgr"})
THUMBNAIL_SIZE = (200, 200)
Uploader = Callable[[bytes, MediaType], UploadResponse]

_MEDIA_KIND = {
    MessageType.IMAGE: MediaType.MediaImage,
    MessageType.VIDEO: MediaType.MediaVideo,
    MessageType.AUDIO: MediaType.MediaAudio,
    MessageType.DOCUMENT: MediaType.MediaDocument,
    # Stickers are uploaded as images, as WhatsApp clients do.
    MessageType.STICKER: MediaType.MediaImage,
}


# --- JIDs ------------------------------------------------------------------------------------
def jid_parse(value: str) -> JID:
    """``user[.agent][:device]@server`` (or bare digits, meaning a phone number) to a neonize JID."""
    value = (value or "").strip()
    if not value:
        raise DriverError("invalid_jid", "empty JID", permanent=True)
    user, _, server = value.rpartition("@") if "@" in value else (value.lstrip("+"), "", USER_SERVER)
    device = agent = 0
    if ":" in user:
        user, _, device_text = user.partition(":")
        device = _jid_number(device_text, value)
    if "." in user and server in (USER_SERVER, "lid"):
        user, _, agent_text = user.partition(".")
        agent = _jid_number(agent_text, value)
    if not server or (server == USER_SERVER and not user.isdigit()):
        raise DriverError("invalid_jid", f"not a WhatsApp JID: {value!r}", permanent=True)
    return JID(User=user, Server=server, RawAgent=agent, Device=device, Integrator=0, IsEmpty=False)


def _jid_number(text: str, whole: str) -> int:
    if not text.isdigit():
        raise DriverError("invalid_jid", f"not a WhatsApp JID: {whole!r}", permanent=True)
    return int(text)


def jid_string(jid: JID) -> str:
    """A JID as WhatsApp writes it, device included (``user:device@server``)."""
    if not jid.User:
        return jid.Server
    user = f"{jid.User}.{jid.RawAgent}" if jid.RawAgent else jid.User
    return f"{user}:{jid.Device}@{jid.Server}" if jid.Device or jid.RawAgent else f"{user}@{jid.Server}"


def jid_user_string(jid: JID) -> str:
    """A JID without agent and device: the form chats and senders are stored under."""
    return f"{jid.User}@{jid.Server}" if jid.User else jid.Server


# --- outbound messages -------------------------------------------------------------------------
def message_build(message: OutboundMessage, *, upload: Uploader) -> e2e.Message:
    """The protobuf for one send; ``reply_to`` quoting is applied to whichever type it is."""
    builder = _BUILDERS.get(message.type)
    if builder is None:
        raise DriverError("unsupported_type", f"cannot send {message.type!r} messages", permanent=True)
    built = builder(message, upload)
    if message.reply_to_wa_message_id and message.type != MessageType.REACTION:
        built = _with_quote(built, message)
    return built


def _text(message: OutboundMessage, upload: Uploader) -> e2e.Message:
    if message.reply_to_wa_message_id:
        # Quoting needs a ContextInfo, which plain ``conversation`` cannot carry.
        return e2e.Message(extendedTextMessage=e2e.ExtendedTextMessage(text=message.text))
    return e2e.Message(conversation=message.text)


def _require_media(message: OutboundMessage) -> MediaPayload:
    media = message.media
    if media is None or not media.content:
        raise DriverError("media_missing", f"a {message.type} message needs media bytes", permanent=True)
    return media


def _uploaded(message: OutboundMessage, upload: Uploader) -> tuple[MediaPayload, dict[str, Any]]:
    media = _require_media(message)
    result = upload(media.content, _MEDIA_KIND[message.type])
    fields = {
        "URL": result.url,
        "directPath": result.DirectPath,
        "mediaKey": result.MediaKey,
        "fileEncSHA256": result.FileEncSHA256,
        "fileSHA256": result.FileSHA256,
        "fileLength": result.FileLength or len(media.content),
        "mimetype": media.mimetype,
        "mediaKeyTimestamp": int(time.time()),
    }
    return media, fields


def _image(message: OutboundMessage, upload: Uploader) -> e2e.Message:
    media, fields = _uploaded(message, upload)
    extra = _image_preview(media.content)
    return e2e.Message(imageMessage=e2e.ImageMessage(caption=message.text or None, **fields, **extra))


def _video(message: OutboundMessage, upload: Uploader) -> e2e.Message:
    _, fields = _uploaded(message, upload)
    seconds = int(message.content.get("seconds") or 0)
    return e2e.Message(videoMessage=e2e.VideoMessage(caption=message.text or None, seconds=seconds or None, **fields))


def _audio(message: OutboundMessage, upload: Uploader) -> e2e.Message:
    _, fields = _uploaded(message, upload)
    voice = bool(message.content.get("voice_note"))
    seconds = int(message.content.get("seconds") or 0)
    return e2e.Message(audioMessage=e2e.AudioMessage(PTT=voice, seconds=seconds or None, **fields))


def _document(message: OutboundMessage, upload: Uploader) -> e2e.Message:
    media, fields = _uploaded(message, upload)
    # A document is saved on the phone under its name: without one, name it for its type.
    unnamed = "file" + (mimetypes.guess_extension(media.mimetype.split(";", 1)[0].strip()) or "")
    filename = media.filename or message.content.get("filename") or unnamed
    document = e2e.DocumentMessage(fileName=filename, title=filename, caption=message.text or None, **fields)
    return e2e.Message(documentMessage=document)


def _sticker(message: OutboundMessage, upload: Uploader) -> e2e.Message:
    media, fields = _uploaded(message, upload)
    size, frames = _image_frames(media.content)
    # Clients play an animated WebP only when the sticker says so.
    animated = bool(message.content.get("animated")) or frames > 1
    sticker = e2e.StickerMessage(isAnimated=animated, **fields)
    if size:
        sticker.width, sticker.height = size
    return e2e.Message(stickerMessage=sticker)


def _location(message: OutboundMessage, upload: Uploader) -> e2e.Message:
    content = message.content
    try:
        latitude, longitude = float(content["latitude"]), float(content["longitude"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DriverError(
            "invalid_location", "a location needs numeric latitude and longitude", permanent=True
        ) from exc
    location = e2e.LocationMessage(
        degreesLatitude=latitude,
        degreesLongitude=longitude,
        name=content.get("name") or None,
        address=content.get("address") or None,
    )
    return e2e.Message(locationMessage=location)


def _contact(message: OutboundMessage, upload: Uploader) -> e2e.Message:
    name = str(message.content.get("name") or "").strip()
    phone = "".join(ch for ch in str(message.content.get("phone") or "") if ch.isdigit())
    if not name or not phone:
        raise DriverError("invalid_contact", "a contact needs a name and a phone number", permanent=True)
    return e2e.Message(contactMessage=e2e.ContactMessage(displayName=name, vcard=vcard_build(name, phone)))


def vcard_build(name: str, phone_digits: str) -> str:
    """A vCard 3.0 with the ``waid`` parameter WhatsApp uses to link the number to an account."""
    safe_name = name.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", " ")
    return (
        "BEGIN:VCARD\nVERSION:3.0\n"
        f"N:;{safe_name};;;\nFN:{safe_name}\n"
        f"TEL;type=CELL;type=VOICE;waid={phone_digits}:+{phone_digits}\n"
        "END:VCARD"
    )


def _reaction(message: OutboundMessage, upload: Uploader) -> e2e.Message:
    content = message.content
    target = str(content.get("target_wa_message_id") or message.reply_to_wa_message_id or "")
    if not target:
        raise DriverError("invalid_reaction", "a reaction needs the id of the message it reacts to", permanent=True)
    key = message_key(
        chat_jid=message.chat_jid,
        wa_message_id=target,
        from_me=bool(content.get("target_from_me")),
        sender_jid=str(content.get("target_sender_jid") or ""),
    )
    reaction = e2e.ReactionMessage(key=key, text=str(content.get("emoji") or ""), senderTimestampMS=_now_ms())
    return e2e.Message(reactionMessage=reaction)


def _poll(message: OutboundMessage, upload: Uploader) -> e2e.Message:
    content = message.content
    options = [str(option) for option in content.get("options") or []]
    name = str(content.get("name") or message.text or "")
    if not name or len(options) < 2:
        raise DriverError("invalid_poll", "a poll needs a name and at least two options", permanent=True)
    selectable = int(content.get("selectable_count", 1))  # 0: any number of options (msgsecret.go:342-356)
    poll = e2e.PollCreationMessage(
        name=name,
        options=[e2e.PollCreationMessage.Option(optionName=option) for option in options],
        selectableOptionsCount=max(0, min(selectable, len(options))),
    )
    # Votes are encrypted with this secret; WhatsApp clients cannot vote on a poll without it.
    return e2e.Message(
        pollCreationMessage=poll, messageContextInfo=e2e.MessageContextInfo(messageSecret=os.urandom(32))
    )


_BUILDERS: dict[MessageType, Callable[[OutboundMessage, Uploader], e2e.Message]] = {
    MessageType.TEXT: _text,
    MessageType.IMAGE: _image,
    MessageType.VIDEO: _video,
    MessageType.AUDIO: _audio,
    MessageType.DOCUMENT: _document,
    MessageType.STICKER: _sticker,
    MessageType.LOCATION: _location,
    MessageType.CONTACT: _contact,
    MessageType.REACTION: _reaction,
    MessageType.POLL: _poll,
}


def _with_quote(built: e2e.Message, message: OutboundMessage) -> e2e.Message:
    """Attach the quoted message to the ContextInfo of whatever content the message carries."""
    quoted = e2e.ContextInfo(
        stanzaID=message.reply_to_wa_message_id,
        participant=_participant(message.reply_to_sender_jid) or None,
        quotedMessage=e2e.Message(conversation=message.reply_to_text or ""),
    )
    for descriptor, value in built.ListFields():
        if descriptor.message_type is not None and "contextInfo" in descriptor.message_type.fields_by_name:
            value.contextInfo.MergeFrom(quoted)
            return built
    raise DriverError("reply_unsupported", f"{message.type} messages cannot quote another message", permanent=True)


def _participant(sender_jid: str) -> str:
    return jid_user_string(jid_parse(sender_jid)) if sender_jid else ""


# --- keys, edits and revokes -----------------------------------------------------------------------
def message_key(*, chat_jid: str, wa_message_id: str, from_me: bool, sender_jid: str = "") -> MessageKey:
    """The key that names an existing message; outside one-to-one chats, someone else's names its sender.

    As whatsmeow's BuildMessageKey (send.go:494-507): one-to-one chats are phone-number, ``@lid`` and
    Messenger chats, whose keys never carry a participant.
    """
    chat = jid_parse(chat_jid)
    key = MessageKey(remoteJID=jid_user_string(chat), fromMe=from_me, ID=wa_message_id)
    if not from_me and chat.Server not in ONE_TO_ONE_SERVERS and sender_jid:
        key.participant = _participant(sender_jid)
    return key


def edit_build(*, chat_jid: str, wa_message_id: str, new_text: str) -> e2e.Message:
    """An edit of one of our own messages, wrapped the way WhatsApp clients send edits."""
    key = message_key(chat_jid=chat_jid, wa_message_id=wa_message_id, from_me=True)
    protocol = e2e.ProtocolMessage(
        key=key,
        type=e2e.ProtocolMessage.MESSAGE_EDIT,
        editedMessage=e2e.Message(conversation=new_text),
        timestampMS=_now_ms(),
    )
    return e2e.Message(editedMessage=e2e.FutureProofMessage(message=e2e.Message(protocolMessage=protocol)))


def revoke_build(*, chat_jid: str, wa_message_id: str, from_me: bool, sender_jid: str = "") -> e2e.Message:
    """Delete for everyone: our own message, or (as a group admin) someone else's."""
    key = message_key(chat_jid=chat_jid, wa_message_id=wa_message_id, from_me=from_me, sender_jid=sender_jid)
    return e2e.Message(protocolMessage=e2e.ProtocolMessage(key=key, type=e2e.ProtocolMessage.REVOKE))


# --- images ----------------------------------------------------------------------------------------
def _image_preview(content: bytes) -> dict[str, Any]:
    """Size and a small JPEG thumbnail with Pillow; an image Pillow cannot read is sent without them."""
    try:
        with Image.open(io.BytesIO(content)) as image:
            width, height = image.size
            image.thumbnail(THUMBNAIL_SIZE)
            out = io.BytesIO()
            image.convert("RGB").save(out, format="JPEG", quality=60)
    except (OSError, ValueError):  # a preview is optional; the recipient still gets the image
        return {}
    return {"width": width, "height": height, "JPEGThumbnail": out.getvalue()}


def _image_frames(content: bytes) -> tuple[tuple[int, int] | None, int]:
    """An image's size and frame count (1 for a still image); (None, 1) when Pillow cannot read it."""
    try:
        with Image.open(io.BytesIO(content)) as image:
            return image.size, int(getattr(image, "n_frames", 1))
    except (OSError, ValueError):  # both are optional
        return None, 1


def _now_ms() -> int:
    return int(time.time() * 1000)
