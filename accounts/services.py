"""Writes for connections: creation, the state machine, operator actions and the timeline."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connections, transaction
from django.utils import timezone

from accounts.models import ConnectionEvent, SandboxCredential, SessionCommand, WaConnection
from accounts.session_commands import (
    FINISHED_STATUSES,
    UNFINISHED_STATUSES,
    connection_row_delete,
    session_command_create,
    session_command_wait,
)
from accounts.states import LINKED_STATUSES, LIVE_STATUSES, STAMP_FIELDS, WEBHOOK_EVENTS, transition_allowed
from webhooks.services import event_emit
from wildcat.audit import audit_record
from wildcat.errors import AppError, ErrorCode, invalid_request
from wildcat.wakeup import wake_connection
from wildcat.whatsapp import AccountInfo

logger = logging.getLogger(__name__)
Status = WaConnection.Status

__all__ = [
    "InvalidTransition",
    "connection_create",
    "connection_delete",
    "connection_give_up",
    "connection_logout",
    "connection_qr_issue",
    "connection_record_event",
    "connection_request_pair_code",
    "connection_restart",
    "connection_start",
    "connection_stop",
    "connection_touch",
    "connection_transition",
    "connection_update",
    "connections_stop_for_key",
    "sandbox_call_create",
]


def _state_conflict(message: str) -> AppError:
    """An action that the connection's current state does not allow (409 ``invalid_state``)."""
    return AppError(ErrorCode.INVALID_STATE, message)


class InvalidTransition(ValueError):
    """A status change the state machine refuses."""


def connection_payload(connection: WaConnection) -> dict[str, Any]:
    """The connection as webhook events describe it."""
    return {
        "id": connection.pk,
        "name": connection.name,
        "driver": connection.driver,
        "status": connection.status,
        "step": connection.connection_step,
        "phone_number": connection.phone_number,
        "whatsapp_id": connection.whatsapp_id,
        "profile_name": connection.profile_name,
    }


def _emit(connection: WaConnection, event_type: str, extra: dict[str, Any] | None = None) -> None:
    data = {"connection_id": connection.pk, "connection": connection_payload(connection), **(extra or {})}
    event_emit(api_key_id=connection.api_key_id, event_type=event_type, data=data, connection_id=connection.pk)


def _timeline(connection: WaConnection, kind: str, *, from_status: str = "", to_status: str = "", detail=None):
    return ConnectionEvent.objects.create(
        connection=connection, kind=kind, from_status=from_status, to_status=to_status, detail=detail or {}
    )


def _audit(connection: WaConnection, action: str, detail: dict[str, Any] | None = None) -> None:
    """An audit entry about the connection (the actor comes from the request, when there is one)."""
    detail = {"name": connection.name, "owner_key_id": connection.api_key_id, **(detail or {})}
    audit_record(action=action, target_type="connection", target_id=connection.pk, detail=detail)


def _locked(connection_id: int) -> WaConnection:
    return WaConnection.objects.select_for_update().get(pk=connection_id)


def has_live_owner(connection: WaConnection) -> bool:
    """Whether a session host holds the connection's lease right now."""
    return bool(connection.lease_owner) and bool(
        connection.lease_expires_at and connection.lease_expires_at > timezone.now()
    )


# --- creation -------------------------------------------------------------------------------
def connection_create(
    *,
    api_key_id: int,
    name: str,
    driver: str = WaConnection.Driver.SANDBOX,
    presence: str = WaConnection.Presence.UNAVAILABLE,
) -> WaConnection:
    """Create a stopped connection for a key; nothing runs until it is started."""
    name = (name or "").strip()
    limit = settings.WILDCAT_CONNECTION_NAME_MAX
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = ["A name is required."]
    elif len(name) > min(limit, 100):
        errors["name"] = [f"At most {min(limit, 100)} characters."]
    if driver not in WaConnection.Driver.values:
        errors["driver"] = [f"Unknown driver {driver!r}; use one of: {', '.join(WaConnection.Driver.values)}."]
    if presence not in WaConnection.Presence.values:
        errors["presence"] = [f"Unknown presence {presence!r}; use one of: {', '.join(WaConnection.Presence.values)}."]
    if errors:
        raise invalid_request(errors)
    try:
        with transaction.atomic():
            # Counting under a lock on the key's rows keeps two concurrent creates from both passing.
            existing = WaConnection.objects.select_for_update().filter(api_key_id=api_key_id)
            if len(existing.values_list("pk", flat=True)) >= settings.WILDCAT_MAX_CONNECTIONS_PER_KEY:
                most = settings.WILDCAT_MAX_CONNECTIONS_PER_KEY
                raise AppError(ErrorCode.LIMIT_EXCEEDED, f"This API key already has {most} connections, the maximum.")
            connection = WaConnection.objects.create(api_key_id=api_key_id, name=name, driver=driver, presence=presence)
            _timeline(connection, ConnectionEvent.Kind.STATE, to_status=connection.status, detail={"created": True})
            _audit(connection, "connection.created", {"driver": driver, "presence": presence})
    except IntegrityError as exc:
        message = "A connection with this name already exists for this API key."
        raise AppError(ErrorCode.NAME_TAKEN, message) from exc
    return connection


# --- the state machine -----------------------------------------------------------------------
def connection_transition(
    *,
    connection_id: int,
    to_status: str,
    reason: str = "",
    error: str = "",
    account: AccountInfo | None = None,
    detail: dict[str, Any] | None = None,
) -> bool:
    """Move a connection to ``to_status`` if the state machine allows it.

    Returns False (and changes nothing) when it is already there; raises InvalidTransition when
    the move is not allowed. Stamps the status's `*_at` field, writes a timeline row and emits the
    matching ``connection.*`` webhook event, all in one transaction.
    """
    with transaction.atomic():
        connection = _locked(connection_id)
        if account is not None:
            _apply_account(connection, account)
        from_status = connection.status
        if from_status == to_status:
            if account is not None:
                connection.save()
            return False
        if not transition_allowed(from_status, to_status):
            raise InvalidTransition(f"connection {connection_id}: {from_status} -> {to_status} is not allowed")
        _apply_status(connection, to_status, reason=reason, error=error)
        connection.save()
        row_detail = {**(detail or {}), **({"reason": reason} if reason else {}), **({"error": error} if error else {})}
        _timeline(
            connection, ConnectionEvent.Kind.STATE, from_status=from_status, to_status=to_status, detail=row_detail
        )
        if to_status == Status.LOGGED_OUT:
            _audit(connection, "connection.logged_out", {"reason": reason})
        event_type = WEBHOOK_EVENTS.get(to_status)
        if event_type and to_status != Status.PENDING:
            _emit(connection, event_type, {"previous_status": from_status, **row_detail})
    return True


def _apply_account(connection: WaConnection, account: AccountInfo) -> None:
    connection.whatsapp_id = account.whatsapp_id or connection.whatsapp_id
    connection.phone_number = account.phone_number or connection.phone_number
    connection.profile_name = account.profile_name or connection.profile_name
    connection.platform = account.platform or connection.platform


def _apply_status(connection: WaConnection, to_status: str, *, reason: str, error: str) -> None:
    now = timezone.now()
    connection.status = to_status
    stamp = STAMP_FIELDS.get(to_status)
    if stamp:
        setattr(connection, stamp, now)
    if to_status in (Status.AUTHENTICATED, Status.READY):
        connection.error = ""
        connection.disconnect_reason = ""
        connection.retry_at = None
        connection.last_seen = now
    if to_status == Status.READY:
        connection.last_activity_at = now
    if to_status not in (Status.PENDING,):
        # A QR or pairing code only means something while the login is pending.
        connection.last_qr = ""
        connection.qr_expires_at = None
        connection.pair_code = ""
    if to_status == Status.DISCONNECTED:
        connection.disconnect_reason = reason[:200]
    if error:
        connection.error = error
    if to_status == Status.LOGGED_OUT:
        connection.desired_state = WaConnection.DesiredState.STOPPED
    connection.connection_step = _STEPS.get(to_status, "")


_STEPS = {
    Status.NOT_STARTED: "",
    Status.PENDING: "waiting_for_scan",
    Status.AUTHENTICATED: "paired",
    Status.READY: "connected",
    Status.AUTH_FAILED: "login_failed",
    Status.DISCONNECTED: "disconnected",
    Status.LOGGED_OUT: "logged_out",
}


def connection_qr_issue(*, connection_id: int, qr: str, expires_in: float) -> bool:
    """Store a new QR code (pending, timeline row, ``connection.qr``); the same code again is a no-op."""
    with transaction.atomic():
        connection = _locked(connection_id)
        if connection.last_qr == qr and connection.status == Status.PENDING:
            return False
        if connection.desired_state == WaConnection.DesiredState.STOPPED:
            logger.info("ignoring a QR for stopped connection %s", connection_id)
            return False
        from_status = connection.status
        if from_status != Status.PENDING and not transition_allowed(from_status, Status.PENDING):
            raise InvalidTransition(f"connection {connection_id}: a QR is not expected in status {from_status}")
        now = timezone.now()
        _apply_status(connection, Status.PENDING, reason="", error="")
        connection.last_qr = qr
        connection.last_qr_at = now
        connection.qr_expires_at = now + timedelta(seconds=max(0.0, float(expires_in)))
        connection.save()
        if from_status != Status.PENDING:
            _timeline(connection, ConnectionEvent.Kind.STATE, from_status=from_status, to_status=Status.PENDING)
        expires_at = connection.qr_expires_at.isoformat()
        _timeline(connection, ConnectionEvent.Kind.QR, detail={"expires_at": expires_at, "expires_in": expires_in})
        _emit(connection, "connection.qr", {"qr": qr, "expires_at": expires_at})
    return True


def connection_give_up(*, connection_id: int, error: str, reason: str) -> bool:
    """A login that cannot complete: auth_failed, and stopped so the reconciler does not loop on it."""
    with transaction.atomic():
        changed = connection_transition(
            connection_id=connection_id, to_status=Status.AUTH_FAILED, error=error, reason=reason
        )
        WaConnection.objects.filter(pk=connection_id).update(desired_state=WaConnection.DesiredState.STOPPED)
    return changed


def connection_hold(*, connection_id: int, reason: str, error: str, detail: dict[str, Any]) -> bool:
    """Disconnected and stopped: WhatsApp ended the session in a way that restarting must not undo.

    Used when another client took the session over (restarting would fight it for the socket) or
    when WhatsApp refuses this client version. The operator starts the connection again.
    """
    with transaction.atomic():
        changed = connection_transition(
            connection_id=connection_id, to_status=Status.DISCONNECTED, reason=reason, error=error, detail=detail
        )
        WaConnection.objects.filter(pk=connection_id).update(desired_state=WaConnection.DesiredState.STOPPED)
    return changed


def connection_ban_wait(*, connection_id: int, code: str, expires_in: int | None) -> bool:
    """Disconnected by a temporary ban: the watchdog restarts the session once the ban has expired."""
    error = f"Temporarily banned by WhatsApp (code {code or 'unknown'}"
    error += f", for {expires_in} s)" if expires_in is not None else ")"
    with transaction.atomic():
        changed = connection_transition(
            connection_id=connection_id,
            to_status=Status.DISCONNECTED,
            reason="temporary_ban",
            error=error,
            detail={"code": code, "expires_in": expires_in},
        )
        retry_at = timezone.now() + timedelta(seconds=expires_in) if expires_in else None
        WaConnection.objects.filter(pk=connection_id).update(retry_at=retry_at)
    return changed


def connection_touch(*, connection_id: int) -> int | None:
    """Record traffic or a keepalive (the zombie watchdog reads last_activity_at).

    Returns the id of the API key that owns the connection, or None when the connection is gone, so
    the event sink needs no other statement on the row before it stores an inbound message.
    """
    return connections_touch(connection_ids=[connection_id]).get(connection_id)


def connections_touch(*, connection_ids: list[int]) -> dict[int, int]:
    """``connection_touch`` for several connections at once: ``{connection id: owner key id}`` of those that exist.

    One ``UPDATE ... RETURNING`` (PostgreSQL, and SQLite since 3.35, which the system checks require):
    Django's ``update()`` returns only a row count.
    """
    if not connection_ids:
        return {}
    db = connections[WaConnection.objects.db]
    table, pk, owner, activity, seen = map(
        db.ops.quote_name, (WaConnection._meta.db_table, "id", "api_key_id", "last_activity_at", "last_seen")
    )
    stamp = WaConnection._meta.get_field("last_seen").get_db_prep_value(timezone.now(), db)
    ids = ", ".join(["%s"] * len(connection_ids))
    # Only quoted column names are formatted in; every value is a parameter.
    sql = f"UPDATE {table} SET {activity} = %s, {seen} = %s WHERE {pk} IN ({ids}) RETURNING {pk}, {owner}"  # noqa: S608
    with db.cursor() as cursor:
        cursor.execute(sql, [stamp, stamp, *connection_ids])
        return dict(cursor.fetchall())


def connection_record_event(*, connection_id: int, kind: str, detail: dict[str, Any]) -> ConnectionEvent | None:
    """A timeline row written by the runtime (crash, owner change, restart); None if the connection is gone."""
    if kind not in ConnectionEvent.Kind.values:
        raise ValueError(f"unknown timeline kind {kind!r}")
    connection = WaConnection.objects.filter(pk=connection_id).first()
    if connection is None:
        return None
    return _timeline(connection, kind, detail=detail)


# --- operator actions ------------------------------------------------------------------------
def connection_start(*, connection: WaConnection) -> WaConnection:
    """Ask for the session to run; the reconciler gives it an owner within a few seconds."""
    with transaction.atomic():
        connection = _locked(connection.pk)
        if connection.desired_state == WaConnection.DesiredState.RUNNING:
            raise _state_conflict("The connection is already started.")
        connection.desired_state = WaConnection.DesiredState.RUNNING
        connection.connection_step = "starting"
        connection.error = ""
        connection.save()
        _timeline(connection, ConnectionEvent.Kind.COMMAND, detail={"action": "start"})
        connection_id = connection.pk
        transaction.on_commit(lambda: wake_connection(connection_id))
    return connection


def connection_stop(*, connection: WaConnection) -> WaConnection:
    """Stop the session and keep its credentials: a later start resumes without a scan."""
    with transaction.atomic():
        connection = _locked(connection.pk)
        if connection.desired_state == WaConnection.DesiredState.STOPPED:
            raise _state_conflict("The connection is already stopped.")
        connection.desired_state = WaConnection.DesiredState.STOPPED
        connection.save(update_fields=["desired_state", "updated_at"])
        _timeline(connection, ConnectionEvent.Kind.COMMAND, detail={"action": "stop"})
        if connection.status == Status.PENDING:
            connection_transition(connection_id=connection.pk, to_status=Status.NOT_STARTED, reason="stopped")
        elif connection.status in LIVE_STATUSES:
            connection_transition(connection_id=connection.pk, to_status=Status.DISCONNECTED, reason="stopped")
        connection_id = connection.pk
        transaction.on_commit(lambda: wake_connection(connection_id))
    return WaConnection.objects.get(pk=connection.pk)


def connections_stop_for_key(*, api_key_id: int) -> list[int]:
    """Stop every running connection of a key, keeping credentials; returns their ids."""
    with transaction.atomic():
        running = WaConnection.objects.filter(api_key_id=api_key_id, desired_state=WaConnection.DesiredState.RUNNING)
        ids = list(running.order_by("pk").values_list("pk", flat=True))
        for connection in WaConnection.objects.filter(pk__in=ids).order_by("pk"):
            connection_stop(connection=connection)
    return ids


def connection_update(*, connection: WaConnection, presence: str) -> WaConnection:
    """Change a connection's settings; a running neonize session applies a new presence at once."""
    if presence not in WaConnection.Presence.values:
        choices = ", ".join(WaConnection.Presence.values)
        raise invalid_request({"presence": [f"Unknown presence {presence!r}; use one of: {choices}."]})
    with transaction.atomic():
        connection = _locked(connection.pk)
        if connection.presence == presence:
            return connection
        connection.presence = presence
        connection.save(update_fields=["presence", "updated_at"])
        running = connection.desired_state == WaConnection.DesiredState.RUNNING
        if running and connection.driver == WaConnection.Driver.NEONIZE:
            payload = {"op": "presence_apply", "args": {}}
            session_command_create(connection=connection, kind=SessionCommand.Kind.CALL, payload=payload)
    return connection


def connection_restart(*, connection: WaConnection) -> SessionCommand:
    """Restart the running session from its stored credentials (through its owner)."""
    with transaction.atomic():
        connection = _locked(connection.pk)
        if connection.desired_state != WaConnection.DesiredState.RUNNING:
            raise _state_conflict("The connection is stopped; start it instead.")
        _timeline(connection, ConnectionEvent.Kind.RESTART, detail={"reason": "requested"})
        return session_command_create(
            connection=connection, kind=SessionCommand.Kind.RESTART, payload={"reason": "requested"}
        )


def connection_logout(*, connection: WaConnection) -> SessionCommand | None:
    """Unlink the phone and forget the credentials.

    With a live owner the owner logs out (a command). Without one, a sandbox connection is logged
    out right here (its "phone" is our own table); a neonize connection is started so that its
    session can tell WhatsApp, and the logout command waits for it.
    Returns the command, or None when the logout is already complete.
    """
    with transaction.atomic():
        connection = _locked(connection.pk)
        if connection.status not in LINKED_STATUSES:
            raise _state_conflict(f"Nothing to log out: the connection is {connection.status}.")
        _audit(connection, "connection.logout")
        owned = has_live_owner(connection)
        if not owned and connection.driver == WaConnection.Driver.SANDBOX:
            SandboxCredential.objects.filter(connection=connection).delete()
            connection_transition(connection_id=connection.pk, to_status=Status.LOGGED_OUT, reason="logout")
            return None
        if not owned:
            connection.desired_state = WaConnection.DesiredState.RUNNING
        connection.connection_step = "logging_out"
        connection.save(update_fields=["desired_state", "connection_step", "updated_at"])
        return session_command_create(connection=connection, kind=SessionCommand.Kind.LOGOUT, payload={})


def connection_delete(*, connection: WaConnection) -> SessionCommand | None:
    """Log out, stop, and delete the connection with its timeline, commands and session data.

    When a phone may be linked and a session has to tell WhatsApp (a live owner, or any neonize
    connection: its store is only reachable from a session host), the owner logs out first through a
    command flagged ``delete``; finishing that command deletes the row, whether the logout worked or
    not. The call waits up to WILDCAT_COMMAND_WAIT_SECONDS for it and returns the command if it is
    still on its way (None once the row is gone). Otherwise the row goes at once; sandbox
    credentials and deliveries cascade with it.
    """
    fresh = WaConnection.objects.filter(pk=connection.pk).first()
    if fresh is None:
        return None
    # Recorded when asked for, with who asked: a linked session may finish the deletion later.
    _audit(fresh, "connection.deleted", {"driver": fresh.driver, "status": fresh.status})
    needs_session = fresh.status in LINKED_STATUSES and (
        has_live_owner(fresh) or fresh.driver == WaConnection.Driver.NEONIZE
    )
    if needs_session:
        command = _delete_command(fresh)
        command = session_command_wait(command_id=command.pk, timeout=settings.WILDCAT_COMMAND_WAIT_SECONDS)
        return None if command is None or command.status in FINISHED_STATUSES else command
    connection_row_delete(connection_id=fresh.pk)
    return None


def _delete_command(connection: WaConnection) -> SessionCommand:
    """The pending delete-logout of this connection, created (and the session started) if there is none."""
    with transaction.atomic():
        connection = _locked(connection.pk)
        existing = connection.commands.filter(
            kind=SessionCommand.Kind.LOGOUT, payload__delete=True, status__in=UNFINISHED_STATUSES
        ).first()
        if existing is not None:
            return existing
        connection.desired_state = WaConnection.DesiredState.RUNNING
        connection.connection_step = "deleting"
        connection.save(update_fields=["desired_state", "connection_step", "updated_at"])
        _timeline(connection, ConnectionEvent.Kind.COMMAND, detail={"action": "delete"})
        return session_command_create(connection=connection, kind=SessionCommand.Kind.LOGOUT, payload={"delete": True})


def connection_request_pair_code(*, connection: WaConnection, phone: str) -> SessionCommand:
    """Ask the running session for a pairing code; ``phone`` is E.164 (validated by the caller)."""
    with transaction.atomic():
        connection = _locked(connection.pk)
        if connection.desired_state != WaConnection.DesiredState.RUNNING:
            raise _state_conflict("Start the connection first; a pairing code needs a running session.")
        if connection.status in (Status.AUTHENTICATED, Status.READY):
            raise _state_conflict("The connection is already linked to a phone.")
        kind = SessionCommand.Kind.PAIR_CODE
        return session_command_create(connection=connection, kind=kind, payload={"phone": phone})


# --- the sandbox phone ------------------------------------------------------------------------
SANDBOX_OPERATIONS: dict[str, frozenset[str]] = {
    "scan": frozenset({Status.PENDING}),
    "inject_message": frozenset({Status.READY}),
    "inject_disconnect": frozenset({Status.READY}),
    "inject_logout": LINKED_STATUSES,
    "inject_ban": frozenset({Status.READY}),
}


def sandbox_call_create(*, connection: WaConnection, op: str, args: dict[str, Any]) -> SessionCommand:
    """Queue an operation on a sandbox connection's simulated phone, if the connection's state allows it."""
    if connection.driver != WaConnection.Driver.SANDBOX:
        raise ValueError("only sandbox connections have a sandbox phone")
    allowed = SANDBOX_OPERATIONS[op]
    with transaction.atomic():
        connection = _locked(connection.pk)
        if connection.desired_state != WaConnection.DesiredState.RUNNING or connection.status not in allowed:
            wanted = " or ".join(sorted(allowed))
            raise _state_conflict(
                f"The sandbox phone cannot do that now: the connection is {connection.status} "
                f"({connection.desired_state}); it must be running and {wanted}."
            )
        payload = {"op": op, "args": args}
        return session_command_create(connection=connection, kind=SessionCommand.Kind.CALL, payload=payload)
