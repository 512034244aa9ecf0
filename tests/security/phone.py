"""A session owner for one sandbox connection, run in a thread of the test process.

It claims the connection's durable commands and answers them with a real SandboxDriver, the way a
session host does, so API calls that need a live session get real answers instead of timing out.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from wildcat.whatsapp import DriverError


class AnsweringPhone:
    def __init__(self, connection_id: int) -> None:
        self.connection_id = connection_id
        self.answered = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"phone-{connection_id}", daemon=True)

    def __enter__(self) -> AnsweringPhone:
        self._thread.start()
        if not self._ready.wait(30):
            raise AssertionError("the sandbox phone did not come online")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        from django.db import connection

        from accounts.runtime.drivers.sandbox import SandboxDriver

        try:
            driver = SandboxDriver(connection_id=self.connection_id, emit=lambda event: None)
            driver.start()
            driver.call_scan(phone="4915199990000")
            driver.tick(time.monotonic() + 3600)
            self._ready.set()
            while not self._stop.is_set():
                try:
                    answered = self._answer_one(driver)
                except Exception as exc:  # kept for the test to report; the phone goes on answering
                    self.errors.append(repr(exc))
                    answered = False
                if not answered:
                    self._stop.wait(0.02)
        except Exception as exc:
            self.errors.append(repr(exc))
            self._ready.set()
        finally:
            connection.close()

    def _answer_one(self, driver) -> bool:
        from accounts.services import session_command_claim, session_command_finish

        command = session_command_claim(connection_id=self.connection_id)
        if command is None:
            return False
        result: dict[str, Any] = {}
        error = ""
        try:
            result = _execute(driver, command)
        except DriverError as exc:
            error = f"{exc.code}: {exc.message}"
        session_command_finish(command_id=command.pk, result=result, error=error)
        self.answered += 1
        return True


def _execute(driver, command) -> dict[str, Any]:
    payload = command.payload or {}
    if command.kind == "logout":
        driver.logout()
        return {"logged_out": True}
    if command.kind == "pair_code":
        return {"code": driver.request_pair_code(str(payload.get("phone", "")).lstrip("+"))}
    if command.kind == "restart":
        return {"restarted": True}
    return driver.call(str(payload.get("op", "")), dict(payload.get("args") or {}))
