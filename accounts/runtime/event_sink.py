"""The event sink: turns what a session driver reports into service calls (state, timeline, messaging)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from django.db import close_old_connections, transaction

from accounts import services
from accounts.models import WaConnection
from messaging.dead_letters import inbound_dead_letter_record
from messaging.inbound import message_apply_receipt, message_receive
from wildcat.whatsapp import DriverEvent, DriverEventType, InboundMessage

logger = logging.getLogger(__name__)
Status = WaConnection.Status
# A DISCONNECTED event with one of these reasons (or detail {"auth_failed": true}) ends a login that
# never completed: the QR codes ran out, or pairing failed. Drivers use them to report auth_failed.
AUTH_FAILED_REASONS = frozenset({"qr_timeout", "pair_error", "auth_failed"})
# Disconnects after which whatsmeow does not reconnect and a restart would not help (or would fight
# another client for the session): the connection is held disconnected and stopped, with this error.
HELD_REASONS = {
    "stream_replaced": (
        "Another WhatsApp Web client took over this session. Start the connection again to take it back."
    ),
    "client_outdated": (
        "WhatsApp refused this client version (client outdated). Upgrade Wildcat, then start the connection."
    ),
}
# Events that only move things forward and are idempotent: a burst of them shares one transaction.
BATCHABLE = frozenset({DriverEventType.RECEIPT, DriverEventType.KEEPALIVE})


def handle_driver_events(items: Sequence[tuple[int, DriverEvent]]) -> None:
    """Apply a burst of ``(connection_id, event)`` in order; never raises (failures are logged).

    Consecutive receipts and keepalives are applied in one transaction (one commit instead of one
    per event); every other event gets its own, exactly as ``handle_driver_event``.
    """
    run: list[tuple[int, DriverEvent]] = []
    for connection_id, event in items:
        if event.type in BATCHABLE:
            run.append((connection_id, event))
            continue
        _apply_batch(run)
        run = []
        _apply_logged(connection_id, event)
    _apply_batch(run)


def _apply_logged(connection_id: int, event: DriverEvent) -> None:
    try:
        handle_driver_event(connection_id=connection_id, event=event)
    except Exception:  # one bad event must not stop the sink
        logger.exception("handling %s event failed for session %s", event.type, connection_id)
        close_old_connections()


def _apply_batch(run: list[tuple[int, DriverEvent]]) -> None:
    if len(run) <= 1:
        for connection_id, event in run:
            _apply_logged(connection_id, event)
        return
    try:
        with transaction.atomic():
            live = services.connections_touch(connection_ids=sorted({cid for cid, _ in run}))
            for connection_id, event in run:
                if connection_id in live and event.receipt is not None:
                    _apply_receipt_savepoint(connection_id, event)
    except Exception:  # the shared transaction failed as a whole: apply them one by one
        logger.warning("a burst of %s events failed together; applying them one at a time", len(run), exc_info=True)
        close_old_connections()
        for connection_id, event in run:
            _apply_logged(connection_id, event)


def _apply_receipt_savepoint(connection_id: int, event: DriverEvent) -> None:
    """A receipt that fails rolls back alone; the rest of the burst still commits."""
    try:
        with transaction.atomic():
            message_apply_receipt(connection_id=connection_id, receipt=event.receipt)
    except Exception:
        logger.exception("applying a receipt failed for session %s", connection_id)


def handle_driver_event(*, connection_id: int, event: DriverEvent) -> None:
    """Apply one driver event. Idempotent: the same event twice changes nothing the second time.

    A refused transition (an event that makes no sense in the current state) is logged, not raised:
    drivers report what the network says, and the network is sometimes late or repetitive. Neither
    is an event for a connection that is gone: a deleted connection's session reports its logout
    while the row is being deleted, which is the normal end of a deletion.
    """
    handler = _HANDLERS.get(event.type)
    if handler is None:
        logger.warning("connection %s: no handler for driver event %r", connection_id, event.type)
        return
    try:
        handler(connection_id, event)
    except services.InvalidTransition as exc:
        logger.info("ignored %s event: %s", event.type, exc)
    except WaConnection.DoesNotExist:
        _dropped(connection_id, event)


def _dropped(connection_id: int, event: DriverEvent) -> None:
    logger.info("connection %s is gone; dropping its %s event", connection_id, event.type)


def _on_qr(connection_id: int, event: DriverEvent) -> None:
    expires_in = float(event.detail.get("expires_in", 0) or 0)
    services.connection_qr_issue(connection_id=connection_id, qr=event.qr, expires_in=expires_in)


def _on_paired(connection_id: int, event: DriverEvent) -> None:
    services.connection_transition(
        connection_id=connection_id, to_status=Status.AUTHENTICATED, account=event.account, detail=event.detail
    )


def _on_connected(connection_id: int, event: DriverEvent) -> None:
    desired = WaConnection.objects.filter(pk=connection_id).values_list("desired_state", flat=True).first()
    if desired == WaConnection.DesiredState.STOPPED:
        # A late "connected" from a session being stopped must not revive the status.
        logger.info("connection %s is stopped; ignoring a late connected event", connection_id)
        return
    services.connection_transition(connection_id=connection_id, to_status=Status.READY, account=event.account)


def _on_disconnected(connection_id: int, event: DriverEvent) -> None:
    if event.detail.get("auth_failed") or event.reason in AUTH_FAILED_REASONS:
        _auth_failed(connection_id, event)
        return
    reason = event.reason or "disconnected"
    if reason in HELD_REASONS:
        changed = services.connection_hold(
            connection_id=connection_id, reason=reason, error=HELD_REASONS[reason], detail=event.detail
        )
    else:
        changed = services.connection_transition(
            connection_id=connection_id, to_status=Status.DISCONNECTED, reason=reason, detail=event.detail
        )
    if changed:
        services.connection_record_event(
            connection_id=connection_id,
            kind="disconnect",
            detail={"reason": event.reason or "disconnected", **event.detail},
        )


def _auth_failed(connection_id: int, event: DriverEvent) -> None:
    """The login attempt is over; the connection stays stopped until someone starts it again."""
    reason = event.reason or "auth_failed"
    services.connection_give_up(
        connection_id=connection_id, error=f"Login failed: {reason.replace('_', ' ')}.", reason=reason
    )


def _on_logged_out(connection_id: int, event: DriverEvent) -> None:
    services.connection_transition(
        connection_id=connection_id, to_status=Status.LOGGED_OUT, reason=event.reason or "logged_out"
    )


def _on_temporary_ban(connection_id: int, event: DriverEvent) -> None:
    expires_in = event.detail.get("expires_in")
    services.connection_ban_wait(
        connection_id=connection_id,
        code=str(event.detail.get("code", "")),
        expires_in=int(expires_in) if expires_in is not None else None,
    )


def _on_message(connection_id: int, event: DriverEvent) -> None:
    # The touch is the only statement on the connection's row: it also says who owns it, or that it is gone.
    api_key_id = services.connection_touch(connection_id=connection_id)
    if api_key_id is None:
        _dropped(connection_id, event)
    elif event.message is not None:
        _receive(connection_id, api_key_id, event.message)


def _receive(connection_id: int, api_key_id: int, message: InboundMessage) -> None:
    """Store an inbound message; one that still cannot be stored is kept as a dead letter, never dropped."""
    try:
        message_receive(connection_id=connection_id, message=message, api_key_id=api_key_id)
    except Exception as exc:  # kept whole for an operator to retry from the admin
        letter = inbound_dead_letter_record(
            connection_id=connection_id, message=message, error=f"{type(exc).__name__}: {exc}"
        )
        logger.exception(
            "storing message %s of connection %s failed; kept as dead letter %s",
            message.wa_message_id[:128],
            connection_id,
            letter.pk,
        )


def _on_receipt(connection_id: int, event: DriverEvent) -> None:
    if services.connection_touch(connection_id=connection_id) is None:
        _dropped(connection_id, event)
    elif event.receipt is not None:
        message_apply_receipt(connection_id=connection_id, receipt=event.receipt)


def _on_keepalive(connection_id: int, event: DriverEvent) -> None:
    services.connection_touch(connection_id=connection_id)


_HANDLERS: dict[str, Callable[[int, DriverEvent], None]] = {
    DriverEventType.QR: _on_qr,
    DriverEventType.PAIRED: _on_paired,
    DriverEventType.CONNECTED: _on_connected,
    DriverEventType.DISCONNECTED: _on_disconnected,
    DriverEventType.LOGGED_OUT: _on_logged_out,
    DriverEventType.TEMPORARY_BAN: _on_temporary_ban,
    DriverEventType.MESSAGE: _on_message,
    DriverEventType.RECEIPT: _on_receipt,
    DriverEventType.KEEPALIVE: _on_keepalive,
}
