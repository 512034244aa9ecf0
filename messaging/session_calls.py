"""Asking the live session to do something and waiting for its answer (edit, revoke, read, groups).

The request is a durable ``SessionCommand`` the session's owner runs with ``driver.call(op, args)``.
No answer within ``WILDCAT_SESSION_CALL_TIMEOUT`` seconds is a 504; a connection that is not ready
is refused at once with 409, because no session would answer.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from accounts.models import SessionCommand, WaConnection
from accounts.session_commands import session_command_cancel, session_command_create, session_command_wait
from accounts.states import LINKED_STATUSES
from wildcat.errors import AppError, ErrorCode


def connection_not_ready_error(connection) -> AppError:
    """The 409 for a connection that cannot do this now, saying what the next step is."""
    status, base = connection.status, f"/api/v1/connections/{connection.pk}"
    start = f"start it (POST {base}/start)"
    link = f"scan its QR code (GET {base}/qr) or request a pairing code (POST {base}/pair-code)"
    running = connection.desired_state == "running"
    if status in LINKED_STATUSES and not running:
        message = f"The connection is stopped: {start}; it resumes without a new scan."
    elif status in LINKED_STATUSES:
        message = f"The connection is {status}; it reconnects by itself: try again once its status is ready."
    else:
        what = "has never been linked to a phone" if connection.authenticated_at is None else f"is {status}"
        message = f"The connection {what}: {link if running else f'{start}, then {link}'}."
    return AppError(ErrorCode.CONNECTION_NOT_READY, message)


def session_check_ready(connection: WaConnection) -> None:
    if connection.status != "ready":
        raise connection_not_ready_error(connection)


def session_call(*, connection_id: int, op: str, args: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
    """Run ``op`` on the connection's session and return its JSON result."""
    connection = WaConnection.objects.get(pk=connection_id)
    session_check_ready(connection)
    command = session_command_create(
        connection=connection, kind=SessionCommand.Kind.CALL, payload={"op": op, "args": args}
    )
    wait = settings.WILDCAT_SESSION_CALL_TIMEOUT if timeout is None else timeout
    finished = session_command_wait(command_id=command.pk, timeout=wait)
    if finished is None or finished.status not in {SessionCommand.Status.DONE, SessionCommand.Status.FAILED}:
        session_command_cancel(command_id=command.pk)
        raise AppError(ErrorCode.SESSION_TIMEOUT, f"The WhatsApp session did not answer within {wait:g} s.")
    if finished.status == SessionCommand.Status.FAILED:
        raise AppError(ErrorCode.SESSION_ERROR, f"WhatsApp refused the request: {finished.error}")
    return finished.result or {}
