"""What a connected neonize session tells WhatsApp: real delivery receipts, and the connection's presence.

Without either, whatsmeow answers every inbound message with a receipt of type "inactive"
(receipt.go:285-286), which phones do not show as two grey ticks. ``SetForceActiveDeliveryReceipts``
(receipt.go:238-262) makes them ordinary receipts whatever the presence; it only stores a flag in
Go, so it is set as soon as the session connects. The presence itself (``WaConnection.presence``,
``available`` or ``unavailable``) is a network send (presence.go:64-87) that fails until WhatsApp
has given the account a push name ("can't send presence without PushName set"), so it is sent from
``tick`` on the command thread and retried.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from neonize.utils.enum import Presence

from accounts.models import WaConnection

logger = logging.getLogger(__name__)
RETRY_SECONDS = 30.0
MAX_ATTEMPTS = 10


def presence_setting(connection_id: int) -> str:
    """The connection's presence setting, read when it is sent (so a change applies on the next send)."""
    rows = WaConnection.objects.filter(pk=connection_id).values_list("presence", flat=True)
    return rows.first() or WaConnection.Presence.UNAVAILABLE


def receipts_activate(client: Any) -> None:
    """Ordinary delivery receipts from now on (an atomic store in whatsmeow; safe on any thread)."""
    client.set_force_activate_delivery_receipts(True)


class PresenceAnnouncer:
    """Sends the connection's presence once per connect, retrying a refused send a few times."""

    def __init__(self) -> None:
        self.due_at: float | None = None
        self.attempts = 0

    def connected(self) -> None:
        self.due_at, self.attempts = 0.0, 0

    def tick(self, client: Any, now: float, presence_of: Callable[[], str]) -> None:
        if self.due_at is None or now < self.due_at or client is None:
            return
        self.announce(client, presence_of(), now)

    def announce(self, client: Any, presence: str, now: float) -> bool:
        try:
            client.send_presence(Presence.AVAILABLE if presence == "available" else Presence.UNAVAILABLE)
        except Exception as exc:  # noqa: BLE001 - retried; the session works without it
            self.attempts += 1
            self.due_at = now + RETRY_SECONDS if self.attempts < MAX_ATTEMPTS else None
            logger.warning("presence %s not sent (attempt %s): %s", presence, self.attempts, exc)
            return False
        self.due_at = None
        return True
