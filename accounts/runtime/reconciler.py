"""The reconciler: starts sessions that should run and have no live owner, and restarts zombie sessions.

Zombies are ready sessions gone silent, and sessions that should run but stay disconnected: whatsmeow
does not reconnect after an unknown connect failure or a temporary ban, so without a restart they
would stay down. A temporary ban is waited out (``retry_at``); a stream taken over by another client
is never restarted (the event sink stops that connection).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from accounts.models import ConnectionEvent, SessionCommand, WaConnection
from accounts.runtime.leases import live_lease_q, record_timeline
from accounts.session_commands import session_command_enqueue
from wildcat.wakeup import wake_connection

logger = logging.getLogger(__name__)
MAX_DISPATCH_PER_ROUND = 500


def sessions_reconcile(*, dispatch: Callable[[int], None]) -> dict[str, int]:
    """One round: dispatch a start for each running-but-unowned connection, then look for zombies.

    Starting is left to whichever `sessions` worker takes the dispatched task: it wins the lease or
    finds the session already owned, so duplicate dispatches from racing rounds are harmless.
    """
    now = timezone.now()
    orphans = list(
        WaConnection.objects.filter(desired_state=WaConnection.DesiredState.RUNNING)
        .exclude(live_lease_q(now))
        .order_by("lease_expires_at", "pk")
        .values_list("pk", flat=True)[:MAX_DISPATCH_PER_ROUND]
    )
    for connection_id in orphans:
        dispatch(connection_id)
    zombies = sessions_restart_zombies(now=now)
    stuck = sessions_restart_disconnected(now=now)
    return {"dispatched": len(orphans), "zombies": len(zombies), "disconnected": len(stuck)}


def sessions_restart_disconnected(*, now=None) -> list[int]:
    """Running sessions disconnected for WILDCAT_DISCONNECTED_RESTART_SECONDS (or past ``retry_at``) restart."""
    now = now or timezone.now()
    threshold = now - timedelta(seconds=settings.WILDCAT_DISCONNECTED_RESTART_SECONDS)
    due = Q(retry_at__isnull=True, disconnected_at__lt=threshold) | Q(retry_at__lte=now)
    recently_restarted = SessionCommand.objects.filter(
        kind=SessionCommand.Kind.RESTART, created_at__gt=threshold
    ).values("connection_id")
    stuck = list(
        WaConnection.objects.filter(due, live_lease_q(now), status=WaConnection.Status.DISCONNECTED)
        .filter(desired_state=WaConnection.DesiredState.RUNNING)
        .exclude(pk__in=recently_restarted)
        .values_list("pk", "disconnect_reason", "disconnected_at", "retry_at")
    )
    for connection_id, reason, disconnected_at, retry_at in stuck:
        _restart_disconnected(connection_id=connection_id, reason=reason, since=disconnected_at, retry_at=retry_at)
        wake_connection(connection_id)
    return [row[0] for row in stuck]


def _restart_disconnected(*, connection_id: int, reason: str, since, retry_at) -> None:
    why = "ban_expired" if retry_at is not None else "disconnected_too_long"
    logger.warning("session %s is still disconnected (%s since %s); restarting it", connection_id, reason, since)
    session_command_enqueue(connection_id=connection_id, kind=SessionCommand.Kind.RESTART, payload={"reason": why})
    WaConnection.objects.filter(pk=connection_id).update(retry_at=None)
    record_timeline(
        connection_id=connection_id,
        kind=ConnectionEvent.Kind.RESTART,
        detail={"reason": why, "disconnect_reason": reason, "disconnected_at": since.isoformat() if since else None},
    )


def sessions_restart_zombies(*, now=None) -> list[int]:
    """READY sessions that have shown no traffic or keepalive for too long get a durable RESTART command."""
    now = now or timezone.now()
    threshold = now - timedelta(seconds=settings.WILDCAT_ZOMBIE_SECONDS)
    silent = Q(last_activity_at__lt=threshold) | Q(last_activity_at__isnull=True, ready_at__lt=threshold)
    recently_restarted = SessionCommand.objects.filter(
        kind=SessionCommand.Kind.RESTART, created_at__gt=threshold
    ).values("connection_id")
    zombies = list(
        WaConnection.objects.filter(silent, live_lease_q(now), status=WaConnection.Status.READY)
        .filter(desired_state=WaConnection.DesiredState.RUNNING)
        .exclude(pk__in=recently_restarted)
        .values_list("pk", "last_activity_at")
    )
    for connection_id, last_activity in zombies:
        _restart_zombie(connection_id=connection_id, last_activity=last_activity, now=now)
        wake_connection(connection_id)
    return [pk for pk, _ in zombies]


def _restart_zombie(*, connection_id: int, last_activity, now) -> None:
    silent_for = (now - last_activity).total_seconds() if last_activity else None
    logger.warning("session %s looks dead (silent for %s s); restarting it", connection_id, silent_for)
    session_command_enqueue(connection_id=connection_id, kind=SessionCommand.Kind.RESTART, payload={"reason": "zombie"})
    record_timeline(
        connection_id=connection_id,
        kind=ConnectionEvent.Kind.RESTART,
        detail={"reason": "zombie", "silent_seconds": round(silent_for, 1) if silent_for is not None else None},
    )
