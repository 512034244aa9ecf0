"""Reads for connections, always scoped to the calling API key (another key's id is simply not found)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import ConnectionEvent, WaConnection
from wildcat.errors import not_found
from wildcat.worker_heartbeat import HOW_TO_HOST_SESSIONS, session_hosts_alive

MAX_ID = 2**63 - 1


def connection_list(*, api_key_id: int) -> QuerySet[WaConnection]:
    return WaConnection.objects.filter(api_key_id=api_key_id)


def connection_get(*, api_key_id: int, connection_id: int) -> WaConnection:
    """The key's connection, or a 404 ``AppError`` (the same answer for a missing id and someone else's)."""
    if not 0 < connection_id <= MAX_ID:  # an id the database cannot even hold is simply not found
        raise not_found()
    connection = WaConnection.objects.filter(api_key_id=api_key_id, pk=connection_id).first()
    if connection is None:
        raise not_found()
    return connection


def connection_events(*, api_key_id: int, connection_id: int) -> QuerySet[ConnectionEvent]:
    connection = connection_get(api_key_id=api_key_id, connection_id=connection_id)
    return ConnectionEvent.objects.filter(connection=connection)


def connection_timeline(*, connection: WaConnection, limit: int = 50) -> list[ConnectionEvent]:
    """Newest first, for the admin (which is not scoped to a key)."""
    return list(ConnectionEvent.objects.filter(connection=connection).order_by("-created_at", "-id")[:limit])


def connection_current_qr(connection: WaConnection) -> str | None:
    """The QR to show right now: only while pending, and only until it expires."""
    if connection.status != WaConnection.Status.PENDING or not connection.last_qr:
        return None
    if connection.qr_expires_at is not None and connection.qr_expires_at <= timezone.now():
        return None
    return connection.last_qr


def connection_not_starting_reason(connection: WaConnection, *, hosts_cache: dict | None = None) -> str:
    """Why a connection that should run has no live session, when nothing can start it; "" otherwise.

    Looks at the workers only for a connection that wants to run and has no live lease, and at most once
    per ``hosts_cache`` (a list of connections shares one).
    """
    wants_to_run = connection.desired_state == WaConnection.DesiredState.RUNNING
    leased = connection.lease_expires_at is not None and connection.lease_expires_at > timezone.now()
    if not wants_to_run or leased:
        return ""
    cache = {} if hosts_cache is None else hosts_cache
    if "session_hosts" not in cache:
        cache["session_hosts"] = session_hosts_alive()
    if cache["session_hosts"]:
        return ""
    return f"No worker can host sessions, so this connection cannot start; {HOW_TO_HOST_SESSIONS}."
