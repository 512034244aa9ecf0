"""The production session host (accounts.runtime.host.SessionHost), run in threads of the test process.

The same command loop, command runner, retry rules, restart and event sink as a host process; only
the transport differs: requests go straight into the host's inbox instead of arriving on stdin,
and its reports are kept in a list instead of being written to the supervisor's pipe. The lease is
the supervisor's job, so a test that needs one takes it with ``lease_for_the_test``.
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta

from django.db import connections
from django.utils import timezone

from accounts.models import WaConnection
from accounts.runtime.drivers.sandbox import SandboxDriver
from accounts.runtime.host import SessionHost


class _Reports:
    """The host's protocol output: one JSON report per line, kept for the test to read."""

    def __init__(self) -> None:
        self.lines: list[dict] = []

    def write(self, text: str) -> int:
        self.lines += [json.loads(line) for line in text.splitlines() if line.strip()]
        return len(text)

    def flush(self) -> None:
        return None


class InProcessHost:
    """``with InProcessHost(connection_id) as host:`` runs that connection's session until the block ends."""

    def __init__(self, *connection_ids: int, driver: str = "sandbox", poll_seconds: float = 0.05) -> None:
        self.connection_ids = connection_ids
        self.driver = driver
        self.reports = _Reports()
        self.host = SessionHost(protocol_out=self.reports, poll_seconds=poll_seconds, hot_poll_seconds=poll_seconds)
        self._threads = [
            threading.Thread(target=self._closing(self.host.command_loop), name="test-host-commands", daemon=True),
            threading.Thread(target=self._closing(self.host.sink_loop), name="test-host-sink", daemon=True),
        ]

    @staticmethod
    def _closing(loop):
        def run() -> None:
            try:
                loop()
            finally:
                connections.close_all()  # this thread's database connection, as a host process's exit would

        return run

    def __enter__(self) -> InProcessHost:
        for thread in self._threads:
            thread.start()
        for connection_id in self.connection_ids:
            self.host.inbox.put({"op": "start", "connection_id": connection_id, "driver": self.driver})
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.host.inbox.put(None)  # what the supervisor closing stdin does: stop every session, then exit
        self._threads[0].join(30)
        self.host.events.put(None)
        self._threads[1].join(30)
        assert not any(thread.is_alive() for thread in self._threads), "the host's threads did not stop"

    def ready(self, connection_id: int) -> bool:
        """The host's own view: the driver reported CONNECTED and nothing has taken it down since."""
        session = self.host.sessions.get(connection_id)
        return session is not None and session.ready

    def wake(self, connection_id: int) -> None:
        self.host.inbox.put({"op": "wake", "connection_id": connection_id})

    def failures(self) -> list[dict]:
        """Reports the supervisor would treat as failures (a session that could not start)."""
        return [line for line in self.reports.lines if line.get("op") == "start_failed"]


def lease_for_the_test(connection_id: int, *, owner: str = "test-node:1:in-process") -> None:
    """Take the connection's lease the way a supervisor does, so the API sees a live owner."""
    expires = timezone.now() + timedelta(minutes=5)
    WaConnection.objects.filter(pk=connection_id).update(lease_owner=owner, lease_expires_at=expires)


def sandbox_link(connection_id: int, *, phone: str = "4915199990000") -> None:
    """Leave what a scanned sandbox phone leaves behind (its stored credentials), so a host resumes it."""
    driver = SandboxDriver(connection_id=connection_id, emit=lambda event: None)
    driver.start()
    driver.call_scan(phone=phone)
    driver.stop()
