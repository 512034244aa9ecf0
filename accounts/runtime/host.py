"""The session-host process: runs WhatsApp sessions for its supervisor, one command thread for every driver call.

Started by exec (``python -m accounts.runtime.host_process``), never by fork: neonize hangs in a
forked child. It speaks JSON lines with its supervisor: requests arrive on stdin, answers and reports
go to the original stdout, and everything else the process prints (Go's own lines included) is moved
to stderr so it cannot corrupt the protocol. The host exits when stdin closes, so a dead worker takes
its hosts down with it.

Threads:
- main: reads stdin and queues requests;
- command: the only thread that touches a driver (start, stop, tick, commands, outbox sends);
- sink: turns driver events into service calls, so a slow database never stalls a socket.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from django.db import close_old_connections

from accounts.runtime.commands import commands_run, connections_with_commands
from accounts.runtime.drivers import driver_for
from accounts.runtime.drivers.base import SessionDriver
from accounts.runtime.event_sink import handle_driver_events
from messaging.outbox import outbox_process, outbox_seconds_until_due
from wildcat.whatsapp import DriverEvent, DriverEventType

logger = logging.getLogger("accounts.runtime.host")
TICK_SECONDS = 0.2
COMMAND_HOLD_SECONDS = 10.0
SINK_BURST = 500  # events the sink takes from its queue at once (receipts in a burst share a commit)
OUTBOX_HOT_SECONDS = 30.0


@dataclass
class HostedSession:
    connection_id: int
    driver: SessionDriver
    ready: bool = False
    woken: bool = True  # look for work as soon as the session starts
    # After a transient command failure while not ready: hold commands until ready (or this deadline).
    commands_held_until: float = 0.0
    # A session that just sent is polled often for a while, so paced or batched sends keep flowing
    # even when the safety poll is slow (the outbox returns early when the next send is not due yet).
    outbox_hot_until: float = 0.0
    next_hot_poll: float = 0.0
    # When pacing lets this session's next message go (0 = not waiting): the tick wakes it then.
    outbox_due_at: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)


class SessionHost:
    """Holds the sessions of this process; all driver calls happen on the command thread."""

    def __init__(self, *, protocol_out: TextIO, poll_seconds: float, hot_poll_seconds: float = 0.5) -> None:
        self.sessions: dict[int, HostedSession] = {}
        self.inbox: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.events: queue.Queue[tuple[int, DriverEvent] | None] = queue.Queue()
        self.poll_seconds = poll_seconds
        self.hot_poll_seconds = hot_poll_seconds
        self._out = protocol_out
        self._out_lock = threading.Lock()
        self._running = True

    # --- protocol ------------------------------------------------------------------------
    def send(self, message: dict[str, Any]) -> None:
        line = json.dumps(message, separators=(",", ":"))
        with self._out_lock:
            try:
                self._out.write(line + "\n")
                self._out.flush()
            except (BrokenPipeError, ValueError, OSError):
                self._running = False

    def read_requests(self, stream: TextIO) -> None:
        """Main thread: queue every request line; end of input means the supervisor is gone."""
        for line in stream:
            line = line.strip()
            if not line:
                continue
            try:
                self.inbox.put(json.loads(line))
            except ValueError:
                logger.warning("ignoring malformed request line %r", line[:200])
        self.inbox.put(None)

    # --- command thread ------------------------------------------------------------------
    def command_loop(self) -> None:
        next_tick = time.monotonic()
        next_poll = next_tick
        while self._running:
            timeout = max(0.0, min(next_tick, next_poll) - time.monotonic())
            try:
                request = self.inbox.get(timeout=timeout)
            except queue.Empty:
                request = {}
            if request is None:
                break
            if request:
                self._handle_request(request)
            now = time.monotonic()
            if now >= next_tick:
                self._tick_all(now)
                next_tick = now + TICK_SECONDS
            if now >= next_poll:
                # This thread's connection may have broken (a database restart): replace it before the
                # full poll, or every later poll would fail on it ("the connection is closed").
                close_old_connections()
                self._poll(all_sessions=True)
                next_poll = now + self.poll_seconds
            else:
                self._poll(all_sessions=False)
        self._stop_all()

    def _handle_request(self, request: dict[str, Any]) -> None:
        op = request.get("op")
        connection_id = request.get("connection_id")
        if op == "start":
            self._start(int(connection_id), request.get("driver", "sandbox"))
        elif op == "stop":
            self._stop(int(connection_id), reason=request.get("reason", "stop"))
        elif op == "wake":
            session = self.sessions.get(int(connection_id))
            if session is not None:
                session.woken = True
        elif op == "ping":
            self.send({"op": "pong", "seq": request.get("seq"), "sessions": self._status()})
        else:
            logger.warning("unknown host request %r", op)

    def _status(self) -> dict[str, Any]:
        return {str(cid): {"ready": s.ready} for cid, s in self.sessions.items()}

    def _emitter(self, connection_id: int) -> Callable[[DriverEvent], None]:
        def emit(event: DriverEvent) -> None:
            session = self.sessions.get(connection_id)
            if session is not None:
                if event.type == DriverEventType.CONNECTED:
                    session.ready = True
                    session.woken = True
                    session.commands_held_until = 0.0
                elif event.type in (DriverEventType.DISCONNECTED, DriverEventType.LOGGED_OUT, DriverEventType.QR):
                    session.ready = False
            self.events.put((connection_id, event))

        return emit

    def _start(self, connection_id: int, driver_kind: str) -> None:
        if connection_id in self.sessions:
            self.send({"op": "started", "connection_id": connection_id, "already": True})
            return
        try:
            driver = driver_for(driver_kind, connection_id=connection_id, emit=self._emitter(connection_id))
            self.sessions[connection_id] = HostedSession(connection_id=connection_id, driver=driver)
            driver.start()
        except Exception as exc:  # reported to the supervisor, which backs off
            logger.exception("session %s failed to start", connection_id)
            self.sessions.pop(connection_id, None)
            self.send({"op": "start_failed", "connection_id": connection_id, "error": str(exc)[:500]})
            return
        self.send({"op": "started", "connection_id": connection_id})

    def session_driver(self, connection_id: int) -> SessionDriver | None:
        """The driver of a session this host runs, or None when it is not (or no longer) here."""
        session = self.sessions.get(connection_id)
        return None if session is None else session.driver

    def restart_session(self, connection_id: int) -> None:
        """Stop the driver and start a fresh one from the stored credentials (RESTART, zombie)."""
        session = self.sessions.get(connection_id)
        if session is None:
            return
        if session.driver.restart_needs_fresh_process:
            self.hand_back(connection_id, reason="restart")
            return
        kind = session.driver.kind
        self._stop(connection_id, reason="restart", report=False)
        self._start(connection_id, kind)

    def hand_back(self, connection_id: int, *, reason: str) -> None:
        """Stop a session here and ask the supervisor to start it again in a new host process."""
        self._stop(connection_id, reason=reason, report=False)
        self.send({"op": "retry", "connection_id": connection_id, "reason": reason})

    def _stop(self, connection_id: int, *, reason: str, report: bool = True) -> None:
        session = self.sessions.pop(connection_id, None)
        if session is not None:
            try:
                session.driver.stop()
            except Exception:  # the session is gone either way
                logger.warning("driver stop failed for session %s", connection_id, exc_info=True)
        if report:
            self.send({"op": "stopped", "connection_id": connection_id, "reason": reason})

    def _stop_all(self) -> None:
        for connection_id in list(self.sessions):
            self._stop(connection_id, reason="host_exit", report=False)

    def _tick_all(self, now: float) -> None:
        for session in list(self.sessions.values()):
            if session.outbox_hot_until > now and now >= session.next_hot_poll:
                session.woken = True
                session.next_hot_poll = now + self.hot_poll_seconds
            if session.outbox_due_at and now >= session.outbox_due_at:
                session.woken = True
                session.outbox_due_at = 0.0
            try:
                session.driver.tick(now)
            except Exception:  # one session's timer bug must not stop the others
                logger.exception("tick failed for session %s", session.connection_id)
            if session.driver.fresh_process_needed:
                self.hand_back(session.connection_id, reason="connect_error")

    def _poll(self, *, all_sessions: bool) -> None:
        """Run durable commands and queued sends for sessions that were woken (or all, on the poll tick)."""
        targets = [s for s in self.sessions.values() if all_sessions or s.woken]
        if not targets:
            return
        try:
            with_commands = connections_with_commands([s.connection_id for s in targets])
        except Exception:  # the database may be briefly unavailable; next poll retries
            logger.warning("command poll failed", exc_info=True)
            return
        now = time.monotonic()
        for session in targets:
            session.woken = False
            runnable = session.ready or now >= session.commands_held_until
            if (
                runnable
                and session.connection_id in with_commands
                and not commands_run(host=self, connection_id=session.connection_id)
            ):
                session.commands_held_until = now + COMMAND_HOLD_SECONDS
            current = self.sessions.get(session.connection_id)
            if current is not None and current.ready:
                self._outbox(current)

    def _outbox(self, session: HostedSession) -> None:
        try:
            if outbox_process(connection_id=session.connection_id, port=session.driver):
                now = time.monotonic()
                session.outbox_hot_until = now + OUTBOX_HOT_SECONDS
                # A paced session is called again when its next slot opens, not at the next poll.
                due_in = outbox_seconds_until_due(session.connection_id)
                session.outbox_due_at = now + due_in if due_in > 0 else 0.0
        except Exception:  # the outbox records its own failures; keep the loop alive
            logger.exception("outbox processing failed for session %s", session.connection_id)

    # --- sink thread ---------------------------------------------------------------------
    def sink_loop(self) -> None:
        while True:
            item = self.events.get()
            if item is None:
                return
            burst = [item]
            stop = False
            while len(burst) < SINK_BURST:
                try:
                    item = self.events.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                burst.append(item)
            handle_driver_events(burst)
            if stop:
                return
