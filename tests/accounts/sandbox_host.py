"""A minimal in-test stand-in for a session host: one thread running a real SandboxDriver for one connection.

It claims and runs the connection's durable commands and passes driver events to the real sink,
so API calls that wait for the session's answer can be tested without worker processes (the
real hosts are covered by the runtime end-to-end tests).
"""

from __future__ import annotations

import threading
import time

from django.db import close_old_connections, connection

from accounts.models import SessionCommand
from accounts.runtime.drivers.sandbox import SandboxDriver
from accounts.runtime.event_sink import handle_driver_event
from accounts.services import session_command_claim, session_command_finish
from wildcat.whatsapp import DriverError


class ThreadHost:
    def __init__(self, connection_id: int) -> None:
        self.connection_id = connection_id
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"test-host-{connection_id}", daemon=True)
        self.driver = SandboxDriver(connection_id=connection_id, emit=self._emit)

    def _emit(self, event) -> None:
        handle_driver_event(connection_id=self.connection_id, event=event)

    def __enter__(self) -> ThreadHost:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        try:
            self.driver.start()
            while not self._stop.is_set():
                self.driver.tick(time.monotonic())
                self._run_commands()
                self._stop.wait(0.02)
        except BaseException as exc:  # surfaced by the test through .errors
            self.errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    def _run_commands(self) -> None:
        while (command := session_command_claim(connection_id=self.connection_id)) is not None:
            try:
                result = self._execute(command)
            except DriverError as exc:
                session_command_finish(command_id=command.pk, error=f"{exc.code}: {exc.message}")
                continue
            session_command_finish(command_id=command.pk, result=result)

    def _execute(self, command: SessionCommand) -> dict:
        payload = command.payload
        if command.kind == SessionCommand.Kind.PAIR_CODE:
            return {"code": self.driver.request_pair_code(payload["phone"].lstrip("+")), "phone": payload["phone"]}
        if command.kind == SessionCommand.Kind.LOGOUT:
            self.driver.logout()
            return {"logged_out": True}
        if command.kind == SessionCommand.Kind.RESTART:
            self.driver.stop()
            self.driver.start()
            return {"restarted": True}
        return self.driver.call(payload["op"], payload.get("args") or {})
