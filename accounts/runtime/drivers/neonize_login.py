"""A fresh neonize login: its QR codes, how whatsmeow's QR channel ended, and the deadlines of a login nobody completes.

goneonize runs a fresh login as ``for evt := range qrChan`` (goneonize main.go:1138-1155). Each code goes to
the QR callback; every other item of whatsmeow's QR channel goes only to the login-status callback, as the
item's event name (``logStatusCb(evt.Event)``, main.go:1152: the item's error is not passed on). Queued
events reach Python only after the channel closes (``CallbackFunction``, main.go:1174), and that first
waits for a device id (``FetchMe``, main.go:2503-2509) that only a successful pairing sets. So on a fresh
login a pairing error, an outdated client or a connect failure arrives only as a login status, and a socket
that never gets to a QR code arrives as nothing at all. neonize 0.5.2 only prints the status; the driver
installs ``LoginWatch.status`` instead and reports the outcome from ``tick`` (on the command thread, which
may call Go to stop the session):

| login status (whatsmeow qrchan.go:36-56)     | DriverEvent                                                  |
|----------------------------------------------|--------------------------------------------------------------|
| ``success`` (PairSuccess)                    | none: PairStatus and Connected follow as events              |
| ``timeout`` (codes ran out, or Disconnected) | DISCONNECTED ``qr_timeout`` (the sink records auth_failed)   |
| ``error`` (PairError, qrchan.go:174-178)     | DISCONNECTED ``pair_error`` (auth_failed)                    |
| ``err-client-outdated`` (ClientOutdated)     | DISCONNECTED ``client_outdated`` (held and stopped)          |
| ``err-unexpected-state`` (Connected,         | DISCONNECTED ``connect_failure``: the watchdog restarts it   |
| ConnectFailure, LoggedOut, TemporaryBan)     | in a fresh process after WILDCAT_DISCONNECTED_RESTART_SECONDS |
| ``err-scanned-without-multidevice``, passkey | none, logged: whatsmeow keeps issuing codes                  |
| steps                                        | (qrchan.go:137-169 return without closing the channel)       |

A fresh login that shows no first code within ``WILDCAT_NEONIZE_FIRST_QR_SECONDS`` (a dial that hangs, or a
handshake that fails in a way whatsmeow does not report) ends as a ``qr_timeout`` too, and so does one whose
last code expired more than ``WILDCAT_NEONIZE_QR_GRACE_SECONDS`` ago.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from typing import Any

from neonize.utils.enum import ClientName, ClientType

from accounts.runtime.drivers.neonize_errors import driver_error
from wildcat.whatsapp import DriverError, DriverEvent, DriverEventType

logger = logging.getLogger(__name__)
# whatsmeow qrchan.go:89-92: the first code lasts 60 s, each later one 20 s.
FIRST_QR_SECONDS = 60
NEXT_QR_SECONDS = 20
# Login statuses that close whatsmeow's QR channel without a pairing -> the DISCONNECTED reason reported.
FAILED_LOGIN_REASONS = {
    "timeout": "qr_timeout",
    "error": "pair_error",
    "err-client-outdated": "client_outdated",
    "err-unexpected-state": "connect_failure",
}


def login_status_text(address: int | None) -> str:
    """The C string goneonize passes to the login-status callback (``call_c_func_string``: uuid, text)."""
    return ctypes.string_at(address).decode("utf-8", "replace") if address else ""


class LoginWatch:
    """The state of one fresh login, written from neonize's thread and read by ``due`` on the command thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.qr_count = 0
        self._code_expires_at: float | None = None
        self._first_qr_by: float | None = None
        self._first_qr_seconds = 0.0
        self._failed: str | None = None

    def begin(self, now: float, *, first_qr_seconds: float) -> None:
        """A fresh login started at ``now``: its first code must show within ``first_qr_seconds``."""
        with self._lock:
            self._first_qr_by, self._first_qr_seconds = now + first_qr_seconds, first_qr_seconds

    def qr(self, code: str, now: float) -> DriverEvent:
        with self._lock:
            self.qr_count += 1
            expires_in = FIRST_QR_SECONDS if self.qr_count == 1 else NEXT_QR_SECONDS
            self._code_expires_at, self._first_qr_by = now + expires_in, None
        return DriverEvent(type=DriverEventType.QR, qr=code, detail={"expires_in": expires_in})

    def status(self, text: str) -> None:
        """A login status from goneonize; a failed login is reported by the next ``due``."""
        if text == "success":
            self.paired()
        elif text in FAILED_LOGIN_REASONS:
            with self._lock:
                self._failed = text
        else:
            logger.warning("login status %r; the QR codes go on", text)

    def paired(self) -> None:
        with self._lock:
            self._code_expires_at = self._first_qr_by = None

    def due(self, now: float, *, grace: float) -> DriverEvent | None:
        """The event that ends this login now, if any; after it the watch is idle."""
        with self._lock:
            failed, self._failed = self._failed, None
            if failed is not None:
                reason, detail = FAILED_LOGIN_REASONS[failed], {"login_status": failed, "codes": self.qr_count}
            elif self._first_qr_by is not None and now > self._first_qr_by:
                reason, detail = "qr_timeout", {"codes": 0, "first_qr_seconds": self._first_qr_seconds}
            elif self._code_expires_at is not None and now > self._code_expires_at + grace:
                reason, detail = "qr_timeout", {"codes": self.qr_count}
            else:
                return None
            self._code_expires_at = self._first_qr_by = None
        return DriverEvent(type=DriverEventType.DISCONNECTED, reason=reason, detail=detail)


def pair_code_request(client: Any, phone_digits: str, *, socket_up: bool) -> str:
    """An 8-character linking code for a login in progress; the phone lists this device as "Chrome (Linux)".

    whatsmeow (pair-code.go:87-89) says the display name must be a recognised "Browser (OS)" pair or the
    server answers 400. neonize 0.5.2 builds it as "<client type> (<client name>)" and defaults the type
    to Firefox; Chrome on Linux is the most common WhatsApp Web pair, so it is asked for through neonize's
    own ``client_type`` and ``client_name`` parameters. ``PairPhone`` needs the socket that the first QR
    code proves is up (pair-code.go:76-79).
    """
    if not socket_up:
        message = "WhatsApp is not connected yet; retry once the first QR code is issued"
        raise DriverError("pair_code_not_ready", message, permanent=False)
    digits = "".join(ch for ch in phone_digits if ch.isdigit())
    try:
        return client.PairPhone(digits, True, client_name=ClientName.LINUX, client_type=ClientType.CHROME)
    except Exception as exc:
        raise driver_error(exc) from exc
