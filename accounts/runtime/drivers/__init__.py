"""Session drivers: the real neonize one and the sandbox phone, behind one interface."""

from __future__ import annotations

from collections.abc import Callable

from accounts.runtime.drivers.base import SessionDriver
from accounts.runtime.drivers.sandbox import SandboxDriver
from wildcat.whatsapp import DriverEvent


def driver_for(kind: str, *, connection_id: int, emit: Callable[[DriverEvent], None]) -> SessionDriver:
    """Build the driver for a connection's ``driver`` field; neonize is imported only when asked for."""
    if kind == "sandbox":
        return SandboxDriver(connection_id=connection_id, emit=emit)
    if kind == "neonize":
        # Not at the top: importing neonize loads its Go library, which only a host running a real
        # WhatsApp session should pay for (and a process must not fork after it, see NEONIZE.md).
        from accounts.runtime.drivers.neonize_driver import NeonizeDriver

        return NeonizeDriver(connection_id=connection_id, emit=emit)
    raise ValueError(f"unknown driver {kind!r}")
