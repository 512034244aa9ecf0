"""Raising a message's webhook event: the one helper that receiving, sending and editing share."""

from __future__ import annotations

from typing import Any

from messaging.models import Message
from messaging.payloads import message_payload
from webhooks.services import event_emit


def message_event_emit(message: Message, event_type: str, **extra: Any) -> None:
    """Raise ``event_type`` for a message (its API payload plus ``extra``), inside the caller's transaction."""
    data = message_payload(message)
    data.update(extra)
    event_emit(api_key_id=message.api_key_id, event_type=event_type, data=data, connection_id=message.connection_id)
