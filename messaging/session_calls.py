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
from messaging.codes import ErrorCode, api_error


def session_check_ready(connection: WaConnection) -> None:
    if connection.status != "ready":
        raise api_error(
            409, ErrorCode.CONNECTION_NOT_READY, f"The connection is {connection.status}; this needs a ready session."
        )


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
        raise api_error(504, ErrorCode.SESSION_TIMEOUT, f"The WhatsApp session did not answer within {wait:g} s.")
    if finished.status == SessionCommand.Status.FAILED:
        raise api_error(502, ErrorCode.SESSION_ERROR, f"WhatsApp refused the request: {finished.error}")
    return finished.result or {}
