"""Runs durable SessionCommand rows against the driver of a hosted session, on the host's command thread."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, Protocol

from accounts.models import SessionCommand
from accounts.runtime.drivers.base import SessionDriver
from accounts.session_commands import session_command_claim, session_command_finish
from wildcat.whatsapp import DriverError

logger = logging.getLogger(__name__)
MAX_COMMANDS_PER_POLL = 20


class CommandHost(Protocol):
    """What running a command needs from the process that hosts the session (``host.SessionHost``)."""

    def session_driver(self, connection_id: int) -> SessionDriver | None:
        """The session's driver, or None when the session is not (or no longer) hosted here."""

    def restart_session(self, connection_id: int) -> None:
        """Stop the session's driver and start a fresh one from the stored credentials."""


def connections_with_commands(connection_ids: Iterable[int]) -> set[int]:
    """One query for a whole host: which of these sessions have commands waiting (or orphaned while running)."""
    ids = list(connection_ids)
    if not ids:
        return set()
    waiting = (SessionCommand.Status.PENDING, SessionCommand.Status.RUNNING)
    rows = SessionCommand.objects.filter(connection_id__in=ids, status__in=waiting).values_list(
        "connection_id", flat=True
    )
    return set(rows)


def commands_run(*, host: CommandHost, connection_id: int) -> bool:
    """Claim and execute this session's commands in order; False when one failed transiently.

    A transient failure (the socket is still connecting, say) ends the round: the command goes back
    to pending and is retried on a later wake-up, so later commands never overtake it.
    """
    for _ in range(MAX_COMMANDS_PER_POLL):
        try:
            command = session_command_claim(connection_id=connection_id)
        except Exception:  # database hiccup: the next poll claims it
            logger.warning("claiming commands failed for session %s", connection_id, exc_info=True)
            return True
        if command is None:
            return True
        if not _execute_and_finish(host=host, command=command):
            return False
    return True


def _execute_and_finish(*, host: CommandHost, command: SessionCommand) -> bool:
    """Run one command and record its outcome; False when it failed and will be retried."""
    result: dict[str, Any] = {}
    error = ""
    permanent = True
    try:
        result = command_execute(host=host, command=command)
    except DriverError as exc:
        error, permanent = f"{exc.code}: {exc.message}", exc.permanent
    except Exception as exc:  # a failing command is recorded on its row, not raised
        logger.exception("command %s (%s) failed", command.pk, command.kind)
        error = str(exc)[:500] or exc.__class__.__name__
    if error:
        logger.info("command %s (%s) of session %s failed: %s", command.pk, command.kind, command.connection_id, error)
    try:
        session_command_finish(command_id=command.pk, result=result, error=error, retry=not permanent)
    except Exception:  # left running; the next owner or poll retries it
        logger.warning("finishing command %s failed", command.pk, exc_info=True)
    return not error or permanent


def command_execute(*, host: CommandHost, command: SessionCommand) -> dict[str, Any]:
    """Do what one command asks with the session's driver; returns the JSON result to store."""
    driver = host.session_driver(command.connection_id)
    if driver is None:
        raise DriverError("session_gone", "the session stopped before the command ran", permanent=False)
    payload = command.payload or {}
    kind = command.kind
    if kind == SessionCommand.Kind.LOGOUT:
        driver.logout()
        return {"logged_out": True}
    if kind == SessionCommand.Kind.PAIR_CODE:
        phone = str(payload.get("phone", "")).lstrip("+")
        return {"code": driver.request_pair_code(phone), "phone": phone}
    if kind == SessionCommand.Kind.RESTART:
        host.restart_session(command.connection_id)
        return {"restarted": True, "reason": payload.get("reason", "requested")}
    if kind == SessionCommand.Kind.CALL:
        return driver.call(str(payload.get("op", "")), dict(payload.get("args") or {}))
    raise DriverError("unknown_command", f"unknown command kind {kind!r}", permanent=True)
