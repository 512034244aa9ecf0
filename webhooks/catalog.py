"""The published catalogue of webhook events: what each type means and the JSON schema of its ``data``."""

from __future__ import annotations

from typing import Any

from wildcat.errors import MESSAGE_FAILURE_MEANINGS, message_failure_codes_text
from wildcat.event_types import EventType
from wildcat.whatsapp import MessageType

_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
_MEDIA = {
    "type": ["object", "null"],
    "description": "Never inline: download it from `url` (GET /api/v1/media/{id}) with your API key.",
    "required": ["id", "url", "mimetype", "size", "sha256", "filename"],
    "properties": {
        "id": {"type": "integer"},
        "url": {"type": "string"},
        "mimetype": {"type": "string"},
        "size": {"type": "integer"},
        "sha256": {"type": "string"},
        "filename": {"type": "string"},
    },
}
_MESSAGE_ERROR = {
    "type": ["object", "null"],
    "description": "Why an outbound message failed; null otherwise.",
    "required": ["code", "message"],
    "properties": {
        "code": {
            "type": "string",
            "description": f"Published codes:\n{message_failure_codes_text()}",
            "examples": [code.value for code in MESSAGE_FAILURE_MEANINGS],
        },
        "message": {"type": "string"},
    },
}
_MESSAGE_PROPERTIES: dict[str, Any] = {
    "id": {"type": "integer"},
    "connection_id": {"type": "integer"},
    "wa_message_id": {"type": "string"},
    "direction": {"enum": ["inbound", "outbound"]},
    "from_me": {"type": "boolean"},
    "chat_jid": {"type": "string"},
    "sender_jid": {"type": "string"},
    "push_name": {"type": "string"},
    "type": {
        "enum": [member.value for member in MessageType],
        "description": "unknown: a kind Wildcat does not read; content.message is its raw protobuf as JSON.",
    },
    "text": {"type": "string"},
    "content": {"type": "object", "description": "Type-specific fields; a poll keeps votes and tally here."},
    "media": _MEDIA,
    "reply_to": {"type": ["integer", "null"], "description": "Wildcat id of the quoted message."},
    "quoted_wa_message_id": {"type": "string"},
    "reactions": {"type": "object", "additionalProperties": {"type": "string"}},
    "status": {"enum": ["queued", "sending", "sent", "delivered", "read", "failed"]},
    "error": _MESSAGE_ERROR,
    "attempts": {"type": "integer"},
    "timestamp": _NULLABLE_TIME,
    "sent_at": _NULLABLE_TIME,
    "delivered_at": _NULLABLE_TIME,
    "read_at": _NULLABLE_TIME,
    "failed_at": _NULLABLE_TIME,
    "edited_at": _NULLABLE_TIME,
    "revoked_at": _NULLABLE_TIME,
    "created_at": _NULLABLE_TIME,
    "updated_at": _NULLABLE_TIME,
}
_MESSAGE = {
    "type": "object",
    "required": list(_MESSAGE_PROPERTIES),
    "properties": _MESSAGE_PROPERTIES,
    "additionalProperties": True,
}
_MESSAGE_UPDATED = {
    **_MESSAGE,
    "required": [*_MESSAGE["required"], "change", "by"],
    "properties": {
        **_MESSAGE_PROPERTIES,
        "change": {"enum": ["edited", "revoked", "reaction", "poll_vote"], "description": "What changed the message."},
        "by": {"type": "string", "description": "The JID that made the change, or `api` for a change made here."},
        "voter": {"type": "string", "description": "poll_vote: the JID that voted."},
        "selected_options": {
            "type": "array",
            "items": {"type": "string"},
            "description": "poll_vote: the voter's whole selection now (empty: the vote was withdrawn).",
        },
    },
}
_CONNECTION = {
    "type": "object",
    "required": ["connection_id", "connection"],
    "properties": {
        "connection_id": {"type": "integer"},
        "previous_status": {"type": "string", "description": "The status the connection left."},
        "connection": {
            "type": "object",
            "required": ["id", "name", "driver", "status", "step", "phone_number", "whatsapp_id", "profile_name"],
            "properties": {
                "id": {"type": "integer"},
                "name": {"type": "string"},
                "driver": {"type": "string"},
                "status": {"type": "string"},
                "step": {"type": "string"},
                "phone_number": {"type": "string"},
                "whatsapp_id": {"type": "string"},
                "profile_name": {"type": "string"},
            },
            "additionalProperties": True,
        },
    },
    "additionalProperties": True,
}
_CONNECTION_QR = {
    **_CONNECTION,
    "required": [*_CONNECTION["required"], "qr", "expires_at"],
    "properties": {**_CONNECTION["properties"], "qr": {"type": "string"}, "expires_at": _NULLABLE_TIME},
}
_TEST = {
    "type": "object",
    "required": ["endpoint_id", "message"],
    "properties": {"endpoint_id": {"type": "integer"}, "message": {"type": "string"}},
}

DESCRIPTIONS: dict[str, tuple[str, dict[str, Any]]] = {
    EventType.MESSAGE_RECEIVED: ("A message arrived from WhatsApp.", _MESSAGE),
    EventType.MESSAGE_SENT: ("WhatsApp accepted an outbound message.", _MESSAGE),
    EventType.MESSAGE_DELIVERED: ("An outbound message reached the recipient's phone.", _MESSAGE),
    EventType.MESSAGE_READ: ("The recipient read an outbound message.", _MESSAGE),
    EventType.MESSAGE_FAILED: (
        "An outbound message failed for good; `error.code` says why (`send_outcome_unknown`: it may have "
        "arrived, so it is not resent; `not_on_whatsapp`: the number has no account).",
        _MESSAGE,
    ),
    EventType.MESSAGE_UPDATED: ("A message was edited, revoked or reacted to, or a poll got a vote.", _MESSAGE_UPDATED),
    EventType.CONNECTION_QR: ("A new QR code is ready to scan.", _CONNECTION_QR),
    EventType.CONNECTION_AUTHENTICATED: ("The phone paired with the connection.", _CONNECTION),
    EventType.CONNECTION_READY: ("The session is connected and can send.", _CONNECTION),
    EventType.CONNECTION_DISCONNECTED: ("The session lost its connection; it reconnects by itself.", _CONNECTION),
    EventType.CONNECTION_LOGGED_OUT: ("The session was logged out; a new pairing is needed.", _CONNECTION),
    EventType.CONNECTION_AUTH_FAILED: ("Pairing or resuming the session failed.", _CONNECTION),
    EventType.WEBHOOK_TEST: ("Sent by POST /webhooks/{id}/test.", _TEST),
}


def catalogue() -> list[dict[str, Any]]:
    """Every event type with its description and the schema of the envelope's ``data``."""
    return [
        {"type": str(member), "description": DESCRIPTIONS[member][0], "data_schema": DESCRIPTIONS[member][1]}
        for member in EventType
    ]
