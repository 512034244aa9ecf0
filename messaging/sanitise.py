"""Making what a sender controls storable: no NUL characters (PostgreSQL refuses them), bounded lengths.

Every field of an inbound message comes from someone else's phone. It is cleaned once, before it is
stored, so that no value a sender picks can make storing the message fail.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

from messaging.models import Media, Message
from wildcat.whatsapp import InboundMessage

# A media type without its parameters (RFC 6838 names), for a declared type too long to keep whole.
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")
_MIMETYPE_MAX = Media._meta.get_field("mimetype").max_length
_FILENAME_MAX = Media._meta.get_field("filename").max_length


def mimetype_clean(declared: str) -> str:
    """A sender's mimetype as it can be stored: whole if it fits, else its bare type, else octet-stream."""
    value = "".join(ch for ch in declared or "" if ch.isprintable()).strip()
    if value and len(value) <= _MIMETYPE_MAX:
        return value
    base = value.split(";", 1)[0].strip().lower()
    if len(base) <= _MIMETYPE_MAX and _MEDIA_TYPE.fullmatch(base):
        return base
    return "application/octet-stream"


def filename_clean(name: str) -> str:
    """A sender's file name without folders or control characters, clamped with its extension kept."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    if len(name) <= _FILENAME_MAX:
        return name
    stem, dot, extension = name.rpartition(".")
    if not dot or len(extension) > 16:
        return name[:_FILENAME_MAX]
    return f"{stem[: _FILENAME_MAX - len(extension) - 1]}.{extension}"


def _limit(field_name: str) -> int:
    return Message._meta.get_field(field_name).max_length


def text_clean(value: str, limit: int | None = None) -> str:
    """The text without NUL characters, cut to ``limit`` characters when one is given."""
    value = (value or "").replace("\x00", "")
    return value if limit is None else value[:limit]


def json_clean(value: dict[str, Any]) -> dict[str, Any]:
    """A fresh JSON object (anything else becomes its string) with no NUL in any string or key."""
    return _without_nul(json.loads(json.dumps(value or {}, default=str)))


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return text_clean(value)
    if isinstance(value, dict):
        return {text_clean(key): _without_nul(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    return value


def inbound_clean(message: InboundMessage) -> InboundMessage:
    """The message with every field its sender controls cleaned and clamped to what the columns hold."""
    media = message.media
    if media is not None:
        media = replace(media, mimetype=mimetype_clean(media.mimetype), filename=filename_clean(media.filename))
    id_limit = _limit("wa_message_id")
    return replace(
        message,
        wa_message_id=text_clean(message.wa_message_id, id_limit),
        quoted_wa_message_id=text_clean(message.quoted_wa_message_id, id_limit),
        edits_wa_message_id=text_clean(message.edits_wa_message_id, id_limit),
        revokes_wa_message_id=text_clean(message.revokes_wa_message_id, id_limit),
        reacts_to_wa_message_id=text_clean(message.reacts_to_wa_message_id, id_limit),
        chat_jid=text_clean(message.chat_jid, _limit("chat_jid")),
        sender_jid=text_clean(message.sender_jid, _limit("sender_jid")),
        push_name=text_clean(message.push_name, _limit("push_name")),
        text=text_clean(message.text),
        content=json_clean(message.content),
        raw=json_clean(message.raw),
        media=media,
    )
