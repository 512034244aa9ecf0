"""The published catalogue of webhook events: what each type means and the JSON schema of its ``data``."""

from __future__ import annotations

from typing import Any

from wildcat.errors import MESSAGE_FAILURE_MEANINGS, message_failure_codes_text
from wildcat.event_types import EventType
from wildcat.whatsapp import MessageType

_NULLABLE_STRING = {"type": ["string", "null"]}
_MEDIA = {
    "type": ["object", "null"],
    "description": "Never inline: download it from `url` (GET /api/v1/media/{id}) with your API key.",
    "properties": {
        "id": {"type": "integer"},
        "url": {"type": "string", "format": "uri"},
        "mimetype": {"type": "string"},
        "size": {"type": "integer"},
        "sha256": {"type": "string"},
        "filename": {"type": "string"},
    },
}
_MESSAGE_ERROR = {
    "type": ["object", "null"],
    "description": "Why an outbound message failed; null otherwise.",
    "properties": {
        "code": {
            "type": "string",
            "description": f"Published codes:\n{message_failure_codes_text()}",
            "examples": [code.value for code in MESSAGE_FAILURE_MEANINGS],
        },
        "message": {"type": "string"},
    },
}
_MESSAGE = {
    "type": "object",
    "required": ["connection_id", "id", "wa_message_id", "status"],
    "properties": {
        "connection_id": {"type": "integer"},
        "id": {"type": "integer"},
        "wa_message_id": {"type": "string"},
        "direction": {"enum": ["inbound", "outbound"]},
        "from_me": {"type": "boolean"},
        "chat_jid": {"type": "string"},
        "sender_jid": {"type": "string"},
        "type": {
            "enum": [t.value for t in MessageType],
            "description": "unknown: a kind Wildcat does not read; content.message is its raw protobuf as JSON.",
        },
        "text": {"type": "string"},
        "content": {"type": "object", "description": "Type-specific fields; a poll keeps votes and tally here."},
        "media": _MEDIA,
        "status": {"enum": ["queued", "sending", "sent", "delivered", "read", "failed"]},
        "error": _MESSAGE_ERROR,
        "timestamp": _NULLABLE_STRING,
    },
    "additionalProperties": True,
}
_MESSAGE_UPDATED = {
    **_MESSAGE,
    "properties": {
        **_MESSAGE["properties"],
        "change": {"enum": ["edited", "revoked", "reaction", "poll_vote"], "description": "What changed the message."},
        "by": {"type": "string", "description": "The JID that made the change."},
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
        "connection": {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "name": {"type": "string"},
                "driver": {"type": "string"},
                "status": {"type": "string"},
                "phone_number": {"type": "string"},
                "whatsapp_id": {"type": "string"},
            },
            "additionalProperties": True,
        },
    },
    "additionalProperties": True,
}
_CONNECTION_QR = {
    **_CONNECTION,
    "properties": {**_CONNECTION["properties"], "qr": {"type": "string"}, "expires_at": _NULLABLE_STRING},
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
