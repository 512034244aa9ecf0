"""What a connected neonize session tells WhatsApp: real delivery receipts, and the connection's presence.

Without either, whatsmeow answers every inbound message with a receipt of type "inactive"
(receipt.go:285-286), which phones do not show as two grey ticks. ``SetForceActiveDeliveryReceipts``
(receipt.go:238-262) makes them ordinary receipts whatever the presence; it only stores a flag in
Go, so it is set from the ``Connected`` handler. That is not before every offline message is
answered: whatsmeow marks the session active and only then dispatches ``Connected``
(connectionevents.go:200-204), answers each message as it is decrypted (receipt.go:278-292), and the
event still has to cross goneonize's queue to Python. Messages answered in that window get
"inactive" receipts; neonize 0.5.2 offers no earlier moment (its Go client exists only inside
``Neonize()``, and the flag set on a missing client is a no-op, receipt.go:253-256).

The presence itself (``WaConnection.presence``, ``available`` or ``unavailable``) is sent from
``tick`` on the command thread. whatsmeow refuses it until the account has a push name
(presence.go:67-68, "can't send presence without PushName set"), which a fresh pairing gets only
from the app-state sync (appstate.go:361-371), and goneonize reports neither that sync nor the push
name. The refusal is local (no network traffic), so a refused send is retried for as long as the
session runs, with a backoff capped at ``RETRY_MAX_SECONDS``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from neonize.utils.enum import Presence

from accounts.models import WaConnection

logger = logging.getLogger(__name__)
RETRY_SECONDS = 30.0
RETRY_MAX_SECONDS = 300.0


def presence_setting(connection_id: int) -> str:
    """The connection's presence setting, read when it is sent (so a change applies on the next send)."""
    rows = WaConnection.objects.filter(pk=connection_id).values_list("presence", flat=True)
    return rows.first() or WaConnection.Presence.UNAVAILABLE


def receipts_activate(client: Any) -> None:
    """Ordinary delivery receipts from now on (an atomic store in whatsmeow; safe on any thread)."""
    client.set_force_activate_delivery_receipts(True)


class PresenceAnnouncer:
    """Sends the connection's presence once per connect, retrying a refused send with a capped backoff."""

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
            self.due_at = now + min(RETRY_SECONDS * 2 ** min(self.attempts - 1, 10), RETRY_MAX_SECONDS)
            log = logger.warning if self.attempts == 1 else logger.info
            log("presence %s not sent (attempt %s): %s", presence, self.attempts, exc)
            return False
        self.due_at = None
        return True
