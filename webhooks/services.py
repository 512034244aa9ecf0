"""Writes for webhooks. ``event_emit`` is the one door through which every app raises an event."""

from __future__ import annotations

from typing import Any


def event_emit(*, api_key_id: int, event_type: str, data: dict[str, Any], connection_id: int | None = None) -> None:
    """Record an event and one delivery per subscribed endpoint, inside the caller's transaction.

    Dispatch happens on commit. Callers must call this inside the same transaction as the change
    that causes the event.
    """
