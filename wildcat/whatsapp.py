"""Driver-neutral WhatsApp objects: what session drivers produce and what services consume.

Both drivers (neonize and the sandbox) speak only these types, so messaging and accounts services
never import the session runtime, and the runtime never hands a protobuf to a service.
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


def generate_message_id() -> str:
    """A WhatsApp message id in the format WhatsApp Web clients use, fixed before the first send attempt."""
    return "3EB0" + secrets.token_hex(9).upper()


class MessageType(enum.StrEnum):
    TEXT = "text"
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    DOCUMENT = "document"
    STICKER = "sticker"
    LOCATION = "location"
    CONTACT = "contact"
    REACTION = "reaction"
    POLL = "poll"
    LIVE_LOCATION = "live_location"
    CONTACTS = "contacts"
    GROUP_INVITE = "group_invite"
    UNKNOWN = "unknown"


# Types Wildcat receives and stores but cannot send (``unknown`` holds the raw protobuf as JSON).
RECEIVE_ONLY_TYPES = frozenset(
    {MessageType.LIVE_LOCATION, MessageType.CONTACTS, MessageType.GROUP_INVITE, MessageType.UNKNOWN}
)


class ReceiptType(enum.StrEnum):
    DELIVERED = "delivered"
    READ = "read"
    PLAYED = "played"


class DriverEventType(enum.StrEnum):
    QR = "qr"
    PAIRED = "paired"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    LOGGED_OUT = "logged_out"
    TEMPORARY_BAN = "temporary_ban"
    MESSAGE = "message"
    RECEIPT = "receipt"
    KEEPALIVE = "keepalive"


@dataclass(frozen=True)
class MediaPayload:
    content: bytes
    mimetype: str
    filename: str = ""


@dataclass(frozen=True)
class OutboundMessage:
    """One send, fully resolved: media is bytes (never a URL) and the WhatsApp id is fixed in advance."""

    wa_message_id: str
    chat_jid: str
    type: MessageType
    text: str = ""
    media: MediaPayload | None = None
    # Type-specific fields: location {latitude, longitude, name, address}, contact {name, phone},
    # reaction {target_wa_message_id, target_sender_jid, target_from_me, emoji}, poll {name, options, selectable_count},
    # audio {voice_note: bool}.
    content: dict[str, Any] = field(default_factory=dict)
    reply_to_wa_message_id: str = ""
    reply_to_sender_jid: str = ""
    reply_to_text: str = ""


@dataclass(frozen=True)
class SendResult:
    wa_message_id: str
    timestamp: datetime


@dataclass(frozen=True)
class InboundMessage:
    wa_message_id: str
    chat_jid: str
    sender_jid: str
    from_me: bool
    is_group: bool
    type: MessageType
    timestamp: datetime
    text: str = ""
    push_name: str = ""
    media: MediaPayload | None = None
    content: dict[str, Any] = field(default_factory=dict)
    quoted_wa_message_id: str = ""
    # When this event changes an earlier message instead of being a new one:
    edits_wa_message_id: str = ""
    revokes_wa_message_id: str = ""
    reacts_to_wa_message_id: str = ""
    # A poll vote: the poll it votes on; content["selected_option_hashes"] is the voter's whole selection.
    votes_on_wa_message_id: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Receipt:
    wa_message_ids: tuple[str, ...]
    chat_jid: str
    type: ReceiptType
    timestamp: datetime


@dataclass(frozen=True)
class AccountInfo:
    whatsapp_id: str
    phone_number: str = ""
    profile_name: str = ""
    platform: str = ""


@dataclass(frozen=True)
class DriverEvent:
    """Everything a driver reports, in one envelope."""

    type: DriverEventType
    qr: str = ""
    account: AccountInfo | None = None
    reason: str = ""
    message: InboundMessage | None = None
    receipt: Receipt | None = None
    detail: dict[str, Any] = field(default_factory=dict)


class DriverError(Exception):
    """A send or call failed. ``permanent`` failures are not retried."""

    def __init__(self, code: str, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.permanent = permanent


class SessionPort(Protocol):
    """What services may ask of a live session. Drivers implement it; services never import drivers."""

    # True when a send goes out under ``OutboundMessage.wa_message_id``: sending a message again
    # after a crash cannot show the recipient a second one. False when the network picks the id.
    sends_with_our_ids: bool

    def send_message(self, message: OutboundMessage) -> SendResult: ...

    def edit_message(self, *, chat_jid: str, wa_message_id: str, new_text: str) -> SendResult: ...

    def revoke_message(self, *, chat_jid: str, sender_jid: str, wa_message_id: str) -> SendResult: ...

    def mark_read(self, *, chat_jid: str, sender_jid: str, wa_message_ids: list[str]) -> None: ...

    def send_presence(self, *, chat_jid: str, state: str) -> None: ...

    def check_numbers(self, numbers: list[str]) -> list[dict[str, Any]]: ...

    def list_groups(self) -> list[dict[str, Any]]: ...

    def group_info(self, group_jid: str) -> dict[str, Any]: ...
