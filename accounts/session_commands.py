"""Durable session commands: rows that whichever worker owns the session claims, runs and finishes."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any, overload

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import ConnectionEvent, SessionCommand, WaConnection
from messaging.media import media_orphans_delete
from messaging.models import Message
from wildcat.wakeup import wake_connection

FINISHED_STATUSES = (SessionCommand.Status.DONE, SessionCommand.Status.FAILED)
UNFINISHED_STATUSES = (SessionCommand.Status.PENDING, SessionCommand.Status.RUNNING)
FINISHED = FINISHED_STATUSES


def session_command_create(*, connection: WaConnection, kind: str, payload: dict[str, Any]) -> SessionCommand:
    """Store a command and wake the session's owner once the row is committed."""
    if kind not in SessionCommand.Kind.values:
        raise ValueError(f"unknown session command kind {kind!r}")
    with transaction.atomic():
        command = SessionCommand.objects.create(connection=connection, kind=kind, payload=payload or {})
        connection_id = connection.pk
        transaction.on_commit(lambda: wake_connection(connection_id))
    return command


def session_command_enqueue(*, connection_id: int, kind: str, payload: dict[str, Any]) -> SessionCommand | None:
    """The same by id, for the runtime; None when the connection no longer exists."""
    connection = WaConnection.objects.filter(pk=connection_id).first()
    if connection is None:
        return None
    return session_command_create(connection=connection, kind=kind, payload=payload)


@overload
def session_command_claim(*, connection_id: int, limit: None = None) -> SessionCommand | None: ...
@overload
def session_command_claim(*, connection_id: int, limit: int) -> list[SessionCommand]: ...
def session_command_claim(*, connection_id: int, limit: int | None = None):
    """Atomically move the oldest waiting commands to running, in id order.

    A command left running by an owner that died is claimed again once it is older than
    WILDCAT_COMMAND_STALE_SECONDS. Each claim is a compare-and-swap UPDATE, so two claimers never
    both get the same row, on SQLite and PostgreSQL alike. Without ``limit`` one command (or None)
    is returned; with it, a list of at most ``limit``.
    """
    if limit is None:
        claimed = _claim(connection_id, 1)
        return claimed[0] if claimed else None
    return _claim(connection_id, limit)


def _claim(connection_id: int, limit: int) -> list[SessionCommand]:
    claimed: list[SessionCommand] = []
    skipped: set[int] = set()
    while len(claimed) < limit:
        now = timezone.now()
        stale = now - timedelta(seconds=settings.WILDCAT_COMMAND_STALE_SECONDS)
        running_stale = Q(status=SessionCommand.Status.RUNNING, updated_at__lt=stale)
        waiting = Q(status=SessionCommand.Status.PENDING) | running_stale
        candidate = (
            SessionCommand.objects.filter(waiting, connection_id=connection_id)
            .exclude(pk__in=skipped)
            .order_by("id")
            .values("pk", "status", "attempts", "updated_at")
            .first()
        )
        if candidate is None:
            break
        same = SessionCommand.objects.filter(
            pk=candidate["pk"], status=candidate["status"], updated_at=candidate["updated_at"]
        )
        if candidate["attempts"] >= settings.WILDCAT_COMMAND_MAX_ATTEMPTS:
            same.update(status=SessionCommand.Status.FAILED, error="gave up after repeated attempts", updated_at=now)
            skipped.add(candidate["pk"])
            continue
        if same.update(status=SessionCommand.Status.RUNNING, attempts=F("attempts") + 1, updated_at=now):
            claimed.append(SessionCommand.objects.get(pk=candidate["pk"]))
        else:
            skipped.add(candidate["pk"])  # someone else took it first
    return claimed


def session_command_finish(
    *, command_id: int, result: dict[str, Any] | None = None, error: str = "", retry: bool = False
) -> SessionCommand | None:
    """Record a command's outcome. A transient failure (``retry``) goes back to pending until the attempts run out."""
    with transaction.atomic():
        command = SessionCommand.objects.select_for_update().filter(pk=command_id).first()
        if command is None or command.status in FINISHED:
            return command
        if error and retry and command.attempts < settings.WILDCAT_COMMAND_MAX_ATTEMPTS:
            command.status = SessionCommand.Status.PENDING
            command.error = error[:2000]
        elif error:
            command.status = SessionCommand.Status.FAILED
            command.error = error[:2000]
            ConnectionEvent.objects.create(
                connection_id=command.connection_id,
                kind=ConnectionEvent.Kind.ERROR,
                detail={"command": command.kind, "error": error[:500]},
            )
        else:
            command.status = SessionCommand.Status.DONE
            command.result = result or {}
            command.error = ""
            if command.kind == SessionCommand.Kind.PAIR_CODE and command.result.get("code"):
                _pair_code_store(command)
        command.save(update_fields=["status", "error", "result", "updated_at"])
        if command.status in FINISHED and command.kind == SessionCommand.Kind.LOGOUT and command.payload.get("delete"):
            # A delete waits only for the logout attempt, not for its success.
            connection_row_delete(connection_id=command.connection_id)
    return command


def connection_row_delete(*, connection_id: int) -> None:
    """Delete a connection row with everything that cascades from it (timeline, commands, sandbox data)."""
    with transaction.atomic():
        row = WaConnection.objects.select_for_update().filter(pk=connection_id).first()
        if row is None:
            return
        # Its messages go with it; their media must not stay downloadable (or on disk) without them.
        media_ids = list(
            Message.objects.filter(connection_id=connection_id, media__isnull=False)
            .values_list("media_id", flat=True)
            .distinct()
        )
        row.delete()
        media_orphans_delete(media_ids=media_ids)
        # The owner's next lease renewal fails on the missing row and it drops the session.
        transaction.on_commit(lambda: wake_connection(connection_id))


def _pair_code_store(command: SessionCommand) -> None:
    """Keep the pairing code the session answered with, and put it on the timeline."""
    connection = WaConnection.objects.select_for_update().filter(pk=command.connection_id).first()
    if connection is None:
        return
    connection.pair_code = str(command.result["code"])[:16]
    connection.pair_code_at = timezone.now()
    connection.save(update_fields=["pair_code", "pair_code_at", "updated_at"])
    phone = command.payload.get("phone", "")
    ConnectionEvent.objects.create(connection=connection, kind=ConnectionEvent.Kind.PAIR_CODE, detail={"phone": phone})


def session_command_wait(*, command_id: int, timeout: float) -> SessionCommand | None:
    """Poll the row until the command is done or failed, or ``timeout`` seconds pass; returns it either way.

    None means the row is gone: its connection was deleted meanwhile.
    """
    deadline = time.monotonic() + max(0.0, timeout)
    poll = max(0.02, settings.WILDCAT_COMMAND_POLL_SECONDS)
    while True:
        command = SessionCommand.objects.filter(pk=command_id).first()
        if command is None or command.status in FINISHED or time.monotonic() >= deadline:
            return command
        time.sleep(min(poll, max(0.0, deadline - time.monotonic())))


def session_command_cancel(*, command_id: int) -> bool:
    """Withdraw a command nobody has started (its caller stopped waiting); True if it was still pending."""
    cancelled = SessionCommand.objects.filter(pk=command_id, status=SessionCommand.Status.PENDING).update(
        status=SessionCommand.Status.FAILED, error="cancelled: the caller stopped waiting", updated_at=timezone.now()
    )
    return bool(cancelled)
