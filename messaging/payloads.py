"""The JSON shape of a message, shared by the API and webhook events so both always agree."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from messaging.models import Media, Message


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def media_payload(media: Media | None) -> dict[str, Any] | None:
    if media is None:
        return None
    return {
        "id": media.pk,
        "mimetype": media.mimetype,
        "size": media.size,
        "sha256": media.sha256,
        "filename": media.filename,
        "url": f"/api/v1/media/{media.pk}",
    }


def message_payload(message: Message) -> dict[str, Any]:
    """Everything an integrator may see about a message (never the raw driver payload)."""
    return {
        "id": message.pk,
        "connection_id": message.connection_id,
        "wa_message_id": message.wa_message_id,
        "direction": message.direction,
        "from_me": message.from_me,
        "chat_jid": message.chat_jid,
        "sender_jid": message.sender_jid,
        "push_name": message.push_name,
        "type": message.type,
        "text": message.text,
        "content": message.content,
        "media": media_payload(message.media) if message.media_id else None,
        "reply_to": message.quoted_id,
        "quoted_wa_message_id": message.quoted_wa_message_id,
        "reactions": message.reactions,
        "status": message.status,
        "error": {"code": message.error_code, "message": message.error} if message.error_code else None,
        "attempts": message.attempts,
        "timestamp": _iso(message.timestamp),
        "sent_at": _iso(message.sent_at),
        "delivered_at": _iso(message.delivered_at),
        "read_at": _iso(message.read_at),
        "failed_at": _iso(message.failed_at),
        "edited_at": _iso(message.edited_at),
        "revoked_at": _iso(message.revoked_at),
        "created_at": _iso(message.created_at),
        "updated_at": _iso(message.updated_at),
    }
