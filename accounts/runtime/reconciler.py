"""The reconciler: starts sessions that should run and have no live owner, and restarts zombie sessions."""

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
    return {"dispatched": len(orphans), "zombies": len(zombies)}


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
