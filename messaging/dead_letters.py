"""Inbound messages that could not be stored: kept whole as dead letters, stored later on an operator's retry."""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
from datetime import datetime
from typing import Any

from django.db.models import F
from django.utils import timezone

from messaging.inbound import message_receive
from messaging.models import InboundDeadLetter, Message
from messaging.sanitise import text_clean
from wildcat.whatsapp import InboundMessage, MediaPayload, MessageType

logger = logging.getLogger(__name__)
ERROR_LIMIT = 2000


def inbound_payload_encode(message: InboundMessage) -> str:
    """The message as JSON text; NUL characters stay escaped (``\\u0000``), so any database keeps them."""
    fields: dict[str, Any] = dataclasses.asdict(message)
    if message.media is not None:
        fields["media"]["content"] = base64.b64encode(message.media.content).decode("ascii")
    fields["timestamp"] = message.timestamp.isoformat() if message.timestamp else None
    return json.dumps(fields, default=str)


def inbound_payload_decode(payload: str) -> InboundMessage:
    fields = json.loads(payload)
    media = fields.pop("media")
    if media is not None:
        media = MediaPayload(
            content=base64.b64decode(media["content"]), mimetype=media["mimetype"], filename=media["filename"]
        )
    timestamp = fields.pop("timestamp")
    message_type = MessageType(fields.pop("type"))
    when = datetime.fromisoformat(timestamp) if timestamp else None
    return InboundMessage(**fields, media=media, type=message_type, timestamp=when)


def inbound_dead_letter_record(*, connection_id: int, message: InboundMessage, error: str) -> InboundDeadLetter:
    """Keep a message that failed to store, with why; the admin lists it and can retry it."""
    return InboundDeadLetter.objects.create(
        connection_id=connection_id,
        wa_message_id=text_clean(message.wa_message_id, InboundDeadLetter._meta.get_field("wa_message_id").max_length),
        payload=inbound_payload_encode(message),
        error=text_clean(error, ERROR_LIMIT),
    )


def inbound_dead_letter_retry(*, dead_letter_id: int) -> InboundDeadLetter:
    """Store the message again; the row records the outcome (stored, or the new error and one more attempt)."""
    letter = InboundDeadLetter.objects.get(pk=dead_letter_id)
    if letter.status == InboundDeadLetter.Status.STORED:
        return letter
    message = inbound_payload_decode(letter.payload)
    try:
        stored = message_receive(connection_id=letter.connection_id, message=message)
    except Exception as exc:  # still failing: kept, with the latest reason
        logger.warning("dead letter %s still cannot be stored", letter.pk, exc_info=True)
        InboundDeadLetter.objects.filter(pk=letter.pk).update(
            attempts=F("attempts") + 1,
            error=text_clean(f"{type(exc).__name__}: {exc}", ERROR_LIMIT),
            updated_at=timezone.now(),
        )
        letter.refresh_from_db()
        return letter
    if stored is None:  # stored meanwhile (a redelivery): the row already there is the answer
        stored = Message.objects.filter(connection_id=letter.connection_id, wa_message_id=message.wa_message_id).first()
    letter.status, letter.message, letter.error = InboundDeadLetter.Status.STORED, stored, ""
    letter.attempts += 1
    letter.save(update_fields=["status", "message", "error", "attempts", "updated_at"])
    return letter
