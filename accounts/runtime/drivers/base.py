"""The session driver interface shared by the neonize driver and the sandbox phone."""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any

from wildcat.whatsapp import DriverError, DriverEvent, OutboundMessage, SendResult


class SessionDriver(abc.ABC):
    """One WhatsApp session. The session host calls every method from its single command thread.

    A driver reports what happens through ``emit(DriverEvent)``; the host persists those events on
    another thread, so ``emit`` never blocks on the database.
    """

    kind: str = ""
    # True when a restart must happen in a new host process (the driver cannot reconnect in place
    # without leaking resources); the host then hands the session back to its supervisor.
    restart_needs_fresh_process: bool = False
    # Set by such a driver when its connect failed: the host hands the session back for a retry.
    fresh_process_needed: bool = False

    def __init__(self, *, connection_id: int, emit: Callable[[DriverEvent], None]) -> None:
        self.connection_id = connection_id
        self.emit = emit

    # --- lifecycle -------------------------------------------------------------------------
    @abc.abstractmethod
    def start(self) -> None:
        """Resume stored credentials, or begin a fresh login that emits QR events. Must not block."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Close the connection and keep the stored credentials."""

    @abc.abstractmethod
    def logout(self) -> None:
        """Log out on WhatsApp's side and delete the stored credentials."""

    @abc.abstractmethod
    def request_pair_code(self, phone_digits: str) -> str:
        """Ask for an 8-character pairing code for a phone number (digits only, with country code)."""

    @abc.abstractmethod
    def delete_session_data(self) -> None:
        """Remove every stored credential for this connection (used when the connection is deleted)."""

    def tick(self, now: float) -> None:  # noqa: B027 - optional hook
        """Periodic housekeeping on the command thread (QR rotation, timers); ``now`` is time.monotonic()."""

    def is_logged_in(self) -> bool:
        return False

    # --- SessionPort ------------------------------------------------------------------------
    sends_with_our_ids = False  # the safe assumption: a resend may reach the recipient twice

    @abc.abstractmethod
    def send_message(self, message: OutboundMessage) -> SendResult: ...

    @abc.abstractmethod
    def edit_message(self, *, chat_jid: str, wa_message_id: str, new_text: str) -> SendResult: ...

    @abc.abstractmethod
    def revoke_message(self, *, chat_jid: str, sender_jid: str, wa_message_id: str) -> SendResult: ...

    @abc.abstractmethod
    def mark_read(self, *, chat_jid: str, sender_jid: str, wa_message_ids: list[str]) -> None: ...

    @abc.abstractmethod
    def send_presence(self, *, chat_jid: str, state: str) -> None: ...

    @abc.abstractmethod
    def check_numbers(self, numbers: list[str]) -> list[dict[str, Any]]: ...

    @abc.abstractmethod
    def list_groups(self) -> list[dict[str, Any]]: ...

    @abc.abstractmethod
    def group_info(self, group_jid: str) -> dict[str, Any]: ...

    # --- generic calls from SessionCommand(kind="call") ------------------------------------
    PORT_OPERATIONS = frozenset(
        {"check_numbers", "list_groups", "group_info", "edit_message", "revoke_message", "mark_read", "send_presence"}
    )

    def call(self, op: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Run a named operation for a durable command and return a JSON-ready result.

        SessionPort operations are callable by name; a driver adds its own as ``call_<op>`` methods
        (the sandbox's scan and inject operations, for example).
        """
        handler = getattr(self, f"call_{op}", None)
        if handler is not None:
            return handler(**payload)
        if op not in self.PORT_OPERATIONS:
            raise DriverError("unsupported_operation", f"{self.kind} driver does not support {op!r}", permanent=True)
        result = getattr(self, op)(**payload)
        if isinstance(result, SendResult):
            return {"wa_message_id": result.wa_message_id, "timestamp": result.timestamp.isoformat()}
        if isinstance(result, list):
            return {"results": result}
        return result if isinstance(result, dict) else {}
