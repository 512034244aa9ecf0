"""The connection state machine: which status may follow which, the timestamp each one stamps, its webhook."""

from __future__ import annotations

from accounts.models import WaConnection
from wildcat.event_types import EventType

Status = WaConnection.Status

# A status may move only to the ones listed. Staying in the same status is not a transition (a
# repeated driver event is a no-op), so no status lists itself.
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    Status.NOT_STARTED: frozenset(
        {Status.PENDING, Status.AUTHENTICATED, Status.READY, Status.AUTH_FAILED, Status.DISCONNECTED, Status.LOGGED_OUT}
    ),
    # Pending must authenticate before it is ready: a fresh login always pairs first.
    Status.PENDING: frozenset(
        {Status.NOT_STARTED, Status.AUTHENTICATED, Status.AUTH_FAILED, Status.DISCONNECTED, Status.LOGGED_OUT}
    ),
    Status.AUTHENTICATED: frozenset({Status.READY, Status.AUTH_FAILED, Status.DISCONNECTED, Status.LOGGED_OUT}),
    Status.READY: frozenset({Status.DISCONNECTED, Status.LOGGED_OUT}),
    Status.DISCONNECTED: frozenset(
        {Status.PENDING, Status.AUTHENTICATED, Status.READY, Status.AUTH_FAILED, Status.LOGGED_OUT}
    ),
    Status.AUTH_FAILED: frozenset({Status.NOT_STARTED, Status.PENDING, Status.LOGGED_OUT}),
    Status.LOGGED_OUT: frozenset({Status.NOT_STARTED, Status.PENDING}),
}

# The `*_at` field each status stamps when it is entered (pending stamps last_qr_at with the QR itself).
STAMP_FIELDS: dict[str, str] = {
    Status.AUTHENTICATED: "authenticated_at",
    Status.READY: "ready_at",
    Status.AUTH_FAILED: "auth_failed_at",
    Status.DISCONNECTED: "disconnected_at",
    Status.LOGGED_OUT: "logged_out_at",
}

WEBHOOK_EVENTS: dict[str, EventType] = {
    Status.PENDING: EventType.CONNECTION_QR,
    Status.AUTHENTICATED: EventType.CONNECTION_AUTHENTICATED,
    Status.READY: EventType.CONNECTION_READY,
    Status.DISCONNECTED: EventType.CONNECTION_DISCONNECTED,
    Status.LOGGED_OUT: EventType.CONNECTION_LOGGED_OUT,
    Status.AUTH_FAILED: EventType.CONNECTION_AUTH_FAILED,
}

# Statuses in which a phone may be linked, so logging out means something.
LINKED_STATUSES = frozenset({Status.AUTHENTICATED, Status.READY, Status.DISCONNECTED})
# Statuses that mean a live socket; stopping one ends it.
LIVE_STATUSES = frozenset({Status.PENDING, Status.AUTHENTICATED, Status.READY})


def transition_allowed(from_status: str, to_status: str) -> bool:
    return to_status in ALLOWED_TRANSITIONS.get(from_status, frozenset())
