"""Per-connection session leases on the WaConnection row, taken and renewed with conditional UPDATEs.

A lease is (``lease_owner``, ``lease_expires_at``). Every change is one UPDATE whose WHERE clause
states what the caller believes the row holds, so two nodes racing for one connection can never both
win: the database serialises the UPDATEs and the second one matches no row.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from accounts.models import ConnectionEvent, WaConnection
from accounts.services import connection_record_event

logger = logging.getLogger(__name__)


def node_identity(worker_hostname: str = "") -> str:
    """A name no other process will ever use: worker hostname, pid and a random suffix."""
    base = worker_hostname or socket.gethostname()
    return f"{base}:{os.getpid()}:{secrets.token_hex(3)}"


def lease_ttl() -> timedelta:
    return timedelta(seconds=settings.WILDCAT_LEASE_TTL_SECONDS)


def live_lease_q(now=None) -> Q:
    """Rows whose lease is held by someone and not yet expired."""
    now = now or timezone.now()
    return ~Q(lease_owner="") & Q(lease_expires_at__gt=now)


def record_timeline(*, connection_id: int, kind: str, detail: dict) -> None:
    """Write a timeline row through the accounts services; never let the timeline break the runtime."""
    try:
        connection_record_event(connection_id=connection_id, kind=kind, detail=detail)
    except Exception:  # the runtime keeps going; the row is informational
        logger.warning("could not record %s event for connection %s", kind, connection_id, exc_info=True)


def lease_acquire(*, connection_id: int, owner: str, require_running: bool = True) -> bool:
    """Take the lease if it is free, expired or already ours; records an owner change when it moves.

    Compare-and-swap: the UPDATE also requires the owner we just read, so the previous owner written
    on the timeline is exact even when several nodes race.
    """
    now = timezone.now()
    row = WaConnection.objects.filter(pk=connection_id).values("lease_owner", "lease_expires_at", "desired_state")
    current = row.first()
    if current is None:
        return False
    if require_running and current["desired_state"] != WaConnection.DesiredState.RUNNING:
        return False
    previous = current["lease_owner"]
    expired = current["lease_expires_at"] is None or current["lease_expires_at"] <= now
    if previous and previous != owner and not expired:
        return False
    condition = Q(pk=connection_id, lease_owner=previous)
    if previous and previous != owner:
        condition &= Q(lease_expires_at__lte=now) | Q(lease_expires_at__isnull=True)
    if require_running:
        condition &= Q(desired_state=WaConnection.DesiredState.RUNNING)
    won = WaConnection.objects.filter(condition).update(
        lease_owner=owner, lease_expires_at=now + lease_ttl(), lease_heartbeat_at=now
    )
    if won and previous != owner:
        record_timeline(
            connection_id=connection_id,
            kind=ConnectionEvent.Kind.OWNER,
            detail={"from": previous, "to": owner, "previous_expired": bool(previous) and expired},
        )
    return bool(won)


def lease_renew(*, owner: str, connection_ids: Iterable[int]) -> dict[int, str]:
    """Extend every lease this node still holds, in one UPDATE; returns {id: desired_state} of those kept.

    Ids missing from the answer were lost (taken over after expiry, or the row is gone): the caller
    must stop those sessions at once.
    """
    ids = list(connection_ids)
    if not ids:
        return {}
    now = timezone.now()
    WaConnection.objects.filter(pk__in=ids, lease_owner=owner).update(
        lease_expires_at=now + lease_ttl(), lease_heartbeat_at=now
    )
    kept = WaConnection.objects.filter(pk__in=ids, lease_owner=owner).values_list("pk", "desired_state")
    return dict(kept)


def lease_release(*, owner: str, connection_id: int, reason: str) -> bool:
    """Give a lease back (session stopped on purpose), so another node can take it without waiting."""
    released = WaConnection.objects.filter(pk=connection_id, lease_owner=owner).update(
        lease_owner="", lease_expires_at=None
    )
    if released:
        record_timeline(
            connection_id=connection_id,
            kind=ConnectionEvent.Kind.OWNER,
            detail={"from": owner, "to": "", "reason": reason},
        )
    return bool(released)


def lease_release_all(*, owner: str, reason: str) -> int:
    """Release every lease of a node that is shutting down cleanly."""
    ids = list(WaConnection.objects.filter(lease_owner=owner).values_list("pk", flat=True))
    return sum(lease_release(owner=owner, connection_id=pk, reason=reason) for pk in ids)
