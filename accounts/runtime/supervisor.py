"""The session supervisor: lives in a `sessions` Celery worker's main process and runs session-host processes.

It holds the leases of the sessions it hosts and renews them, places each session in a host with
room (a host runs one driver kind), restarts crashed or hung hosts with backoff, starts a session
whose host handed it back (a failed neonize connect, a restart) in a fresh host, forwards Redis
wake-ups to the right host, and stops sessions whose lease it lost or whose desired state is
"stopped". Hosts are started by exec (``accounts.runtime.host_process``) and speak JSON lines (see
``accounts.runtime.host``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import redis
from celery import bootsteps
from django.conf import settings
from django.db import close_old_connections, connections

from accounts.models import ConnectionEvent, WaConnection
from accounts.runtime import leases
from accounts.services import InvalidTransition, connection_transition
from accounts.states import LIVE_STATUSES
from wildcat.models import WorkerNode
from wildcat.wakeup import CONNECTION_CHANNEL, wakeup_connection_ids
from wildcat.worker_heartbeat import SESSIONS_QUEUE

logger = logging.getLogger(__name__)
LOOP_SECONDS = 0.5
PING_SECONDS = 1.0
CRASH_MEMORY_SECONDS = 300.0
START_FAILURE_COOLDOWN = 10.0
HOST_STARTUP_GRACE = 60.0
# Waits before a session whose connect failed is started again in a fresh host (capped by a setting).
CONNECT_RETRY_SECONDS = (5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
SPARE = ""  # driver kind of a warm spare host that has no sessions yet

_current: Supervisor | None = None


def current_supervisor() -> Supervisor | None:
    """The supervisor of this process, if this process is a `sessions` worker."""
    return _current


def host_capacity(driver_kind: str) -> int:
    if driver_kind == WaConnection.Driver.SANDBOX:
        return settings.WILDCAT_SANDBOX_SESSIONS_PER_HOST
    return settings.WILDCAT_SESSIONS_PER_HOST


def mark_disconnected(*, connection_id: int, reason: str) -> None:
    """A session that is not running must not look live: correct a stale pending/ready status.

    After a crash or an owner change the row still says what the dead session last reported; the
    fresh session moves it forward again (and stamps ``ready_at``) once it connects.
    """
    try:
        status = WaConnection.objects.filter(pk=connection_id).values_list("status", flat=True).first()
        if status in LIVE_STATUSES:
            connection_transition(
                connection_id=connection_id, to_status=WaConnection.Status.DISCONNECTED, reason=reason
            )
    except (InvalidTransition, WaConnection.DoesNotExist):
        pass
    except Exception:  # the status is cosmetic next to keeping the session running
        logger.warning("could not mark session %s disconnected", connection_id, exc_info=True)


@dataclass
class HostProcess:
    """One session-host child process and the sessions placed in it."""

    host_id: int
    driver_kind: str
    capacity: int
    process: subprocess.Popen
    sessions: set[int] = field(default_factory=set)
    last_pong: float = field(default_factory=time.monotonic)
    said_hello: bool = False  # start-up (Django, imports) can take seconds on a loaded machine
    ping_seq: int = 0
    ping_sent_at: float = 0.0
    pong_latency: float = 0.0
    reported: dict[str, Any] = field(default_factory=dict)  # the host's own view of its sessions
    crash_reason: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, message: dict[str, Any]) -> bool:
        line = json.dumps(message, separators=(",", ":")) + "\n"
        with self._lock:
            try:
                self.process.stdin.write(line)
                self.process.stdin.flush()
                return True
            except (BrokenPipeError, ValueError, OSError):
                return False

    def close(self) -> None:
        with self._lock, contextlib.suppress(OSError, ValueError):
            self.process.stdin.close()

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, OSError):
            self.process.kill()


class Supervisor:
    """Hosts sessions for one worker node. Thread-safe: Celery task threads call ``session_start``."""

    def __init__(self, *, worker_name: str) -> None:
        self.worker_name = worker_name
        self.node = leases.node_identity(worker_name)
        self.hosts: dict[int, HostProcess] = {}
        self.placements: dict[int, int | None] = {}  # connection id -> host id (None: waiting to restart)
        self.kinds: dict[int, str] = {}
        self.restart_due: dict[int, float] = {}
        self.crashes: dict[int, tuple[int, float]] = {}  # connection id -> (count, last crash time)
        self.cooldown: dict[int, float] = {}
        self.connect_failures: dict[int, int] = {}  # connection id -> failed connects since it was last ready
        self.starting: set[int] = set()
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._next_host_id = 1
        self._threads: list[threading.Thread] = []

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        global _current
        _current = self
        for target, name in ((self._loop, "wc-supervisor"), (self._wakeups, "wc-supervisor-wakeups")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        logger.info("session supervisor started as %s", self.node)

    def stop(self) -> None:
        """Clean shutdown: stop the hosts and hand every lease back so other nodes resume at once."""
        global _current
        self._stopping.set()
        with self._lock:
            hosts = list(self.hosts.values())
            stopped = list(self.placements)
            self.placements.clear()
            self.hosts.clear()
        for connection_id in stopped:
            mark_disconnected(connection_id=connection_id, reason="worker_shutdown")
        for host in hosts:
            host.close()
        for host in hosts:
            try:
                host.process.wait(timeout=8)
            except subprocess.TimeoutExpired:
                host.kill()
        try:
            leases.lease_release_all(owner=self.node, reason="worker_shutdown")
        except Exception:  # the leases expire on their own
            logger.warning("releasing leases on shutdown failed", exc_info=True)
        finally:
            close_old_connections()
        for thread in self._threads:
            thread.join(LOOP_SECONDS * 4)  # the loop closes its database connection on the way out
        if _current is self:
            _current = None

    # --- placing sessions ----------------------------------------------------------------
    def session_start(self, connection_id: int) -> str:
        """Take the lease and place the session in a host; returns what happened (for logs and tests)."""
        with self._lock:
            if self._stopping.is_set():
                return "stopping"
            if connection_id in self.placements or connection_id in self.starting:
                return "already_hosted"
            if len(self.placements) >= settings.WILDCAT_MAX_SESSIONS_PER_WORKER:
                return "full"
            if self.cooldown.get(connection_id, 0) > time.monotonic():
                return "cooling_down"
            # Two task threads may start the same connection at once; only one goes on.
            self.starting.add(connection_id)
        try:
            return self._start_leased(connection_id)
        finally:
            with self._lock:
                self.starting.discard(connection_id)

    def _start_leased(self, connection_id: int) -> str:
        kind = WaConnection.objects.filter(pk=connection_id).values_list("driver", flat=True).first()
        if kind is None:
            return "missing"
        if not leases.lease_acquire(connection_id=connection_id, owner=self.node):
            return "owned_elsewhere"
        mark_disconnected(connection_id=connection_id, reason="session_moved")
        with self._lock:
            if self._stopping.is_set():
                return "stopping"
            self.kinds[connection_id] = kind
            self._place(connection_id)
        return "started"

    def _place(self, connection_id: int) -> None:
        """Put a leased session into a host with room, starting a host when none has any. Holds the lock."""
        kind = self.kinds[connection_id]
        host = next(
            (h for h in self.hosts.values() if h.driver_kind == kind and len(h.sessions) < h.capacity),
            None,
        )
        if host is None:
            host = self._take_spare(kind) or self._spawn_host(kind)
        host.sessions.add(connection_id)
        self.placements[connection_id] = host.host_id
        self.restart_due.pop(connection_id, None)
        host.send({"op": "start", "connection_id": connection_id, "driver": kind})

    def _take_spare(self, kind: str) -> HostProcess | None:
        """A warm host that has already paid its start-up (Django, imports): placement is immediate."""
        spare = next((h for h in self.hosts.values() if h.driver_kind == SPARE and h.process.poll() is None), None)
        if spare is not None:
            spare.driver_kind, spare.capacity = kind, host_capacity(kind)
        return spare

    def _keep_spares(self) -> None:
        with self._lock:
            spares = sum(1 for h in self.hosts.values() if h.driver_kind == SPARE)
            for _ in range(settings.WILDCAT_SPARE_HOSTS - spares):
                self._spawn_host(SPARE)

    def _spawn_host(self, kind: str) -> HostProcess:
        # exec, never fork: a forked copy of a process that imported neonize hangs in connect().
        process = subprocess.Popen(
            [sys.executable, "-m", "accounts.runtime.host_process"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=str(settings.BASE_DIR),
            text=True,
            bufsize=1,
        )
        host = HostProcess(host_id=self._next_host_id, driver_kind=kind, capacity=host_capacity(kind), process=process)
        self._next_host_id += 1
        self.hosts[host.host_id] = host
        reader = threading.Thread(target=self._read_host, args=(host,), name=f"wc-host-{host.pid}", daemon=True)
        reader.start()
        logger.info("started session host pid %s for %s sessions", host.pid, kind or "future")
        return host

    def session_stop(self, connection_id: int, *, release: bool, reason: str) -> None:
        with self._lock:
            host_id = self.placements.pop(connection_id, None)
            self.kinds.pop(connection_id, None)
            self.restart_due.pop(connection_id, None)
            self.connect_failures.pop(connection_id, None)
            host = self.hosts.get(host_id) if host_id is not None else None
            if host is not None:
                host.sessions.discard(connection_id)
                if host.driver_kind == WaConnection.Driver.NEONIZE:
                    host.capacity = 0  # a neonize host connects once: what its connect opened dies with it
                host.send({"op": "stop", "connection_id": connection_id, "reason": reason})
        if release:
            leases.lease_release(owner=self.node, connection_id=connection_id, reason=reason)
        logger.info("stopped session %s (%s)", connection_id, reason)

    def wake(self, connection_id: int) -> None:
        with self._lock:
            host_id = self.placements.get(connection_id)
            host = self.hosts.get(host_id) if host_id is not None else None
        if host is not None:
            host.send({"op": "wake", "connection_id": connection_id})

    # --- host output -----------------------------------------------------------------------
    def _read_host(self, host: HostProcess) -> None:
        for line in host.process.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                logger.info("session host %s: %s", host.pid, line.rstrip()[:500])
                continue
            self._on_host_message(host, message)
        host.process.wait()
        self._on_host_exit(host)

    def _on_host_message(self, host: HostProcess, message: dict[str, Any]) -> None:
        op = message.get("op")
        if op in ("pong", "hello"):
            host.last_pong = time.monotonic()
            host.said_hello = True
            if op == "pong" and message.get("seq") == host.ping_seq:
                host.pong_latency = host.last_pong - host.ping_sent_at
                host.reported = message.get("sessions") or {}
                self._forget_failures(host.reported)
        elif op == "retry":
            self._retry_in_fresh_host(host, int(message["connection_id"]), reason=str(message.get("reason", "")))
        elif op == "start_failed":
            connection_id = int(message["connection_id"])
            with self._lock:
                self.cooldown[connection_id] = time.monotonic() + START_FAILURE_COOLDOWN
            leases.record_timeline(
                connection_id=connection_id,
                kind=ConnectionEvent.Kind.ERROR,
                detail={"error": message.get("error", ""), "stage": "session_start", "node": self.node},
            )
            self.session_stop(connection_id, release=True, reason="start_failed")

    def _retry_in_fresh_host(self, host: HostProcess, connection_id: int, *, reason: str) -> None:
        """A session that must not reconnect in its process: retire that host, start the session anew later.

        The retired host takes no more sessions and is closed once empty, so whatever the failed
        connect left open (the neonize store's database pool) goes away with the process.
        """
        with self._lock:
            host.sessions.discard(connection_id)
            host.capacity = 0
            if self.placements.get(connection_id) != host.host_id:
                return  # stopped or moved meanwhile
            delay = 0.0
            if reason == "connect_error":
                failures = self.connect_failures.get(connection_id, 0)
                self.connect_failures[connection_id] = failures + 1
                step = CONNECT_RETRY_SECONDS[min(failures, len(CONNECT_RETRY_SECONDS) - 1)]
                delay = min(step, settings.WILDCAT_NEONIZE_CONNECT_RETRY_MAX_SECONDS)
            self.placements[connection_id] = None
            self.restart_due[connection_id] = time.monotonic() + delay
        logger.info("session %s goes to a fresh host in %.1f s (%s)", connection_id, delay, reason)

    def _forget_failures(self, reported: dict[str, Any]) -> None:
        with self._lock:
            for key, state in reported.items():
                if state.get("ready"):
                    self.connect_failures.pop(int(key), None)

    def _on_host_exit(self, host: HostProcess) -> None:
        """A host died (crash, kill, hang): write the crash on each session's timeline and restart them."""
        with self._lock:
            if self.hosts.pop(host.host_id, None) is None or self._stopping.is_set():
                return
            orphans = [cid for cid in host.sessions if self.placements.get(cid) == host.host_id]
            for connection_id in orphans:
                self.placements[connection_id] = None
                self.restart_due[connection_id] = time.monotonic() + self._backoff(connection_id)
        code = host.process.returncode
        for connection_id in orphans:
            mark_disconnected(connection_id=connection_id, reason="host_crash")
        logger.warning("session host pid %s exited with %s; %d sessions to restart", host.pid, code, len(orphans))
        for connection_id in orphans:
            leases.record_timeline(
                connection_id=connection_id,
                kind=ConnectionEvent.Kind.CRASH,
                detail={
                    "host_pid": host.pid,
                    "exit_code": code,
                    "reason": host.crash_reason or "exited",
                    "node": self.node,
                    "restart_in_seconds": round(self.restart_due.get(connection_id, 0) - time.monotonic(), 1),
                },
            )
        close_old_connections()

    def _backoff(self, connection_id: int) -> float:
        now = time.monotonic()
        count, last = self.crashes.get(connection_id, (0, 0.0))
        count = 1 if now - last > CRASH_MEMORY_SECONDS else count + 1
        self.crashes[connection_id] = (count, now)
        return min(settings.WILDCAT_HOST_RESTART_BACKOFF_MAX, 0.5 * 2 ** (count - 1))

    # --- the loop --------------------------------------------------------------------------
    def _loop(self) -> None:
        next_renew = next_ping = 0.0
        while not self._stopping.wait(LOOP_SECONDS):
            now = time.monotonic()
            try:
                if now >= next_renew:
                    next_renew = now + settings.WILDCAT_LEASE_RENEW_SECONDS
                    self._renew()
                if now >= next_ping:
                    next_ping = now + PING_SECONDS
                    self._ping_hosts(now)
                self._restart_due(now)
                self._close_idle_hosts()
                self._keep_spares()
            except Exception:  # the loop must survive a database outage
                logger.exception("session supervisor loop failed")
            finally:
                close_old_connections()
        connections.close_all()  # this thread's own database connection ends with it

    def _renew(self) -> None:
        with self._lock:
            ids = list(self.placements)
        kept = leases.lease_renew(owner=self.node, connection_ids=ids)
        for connection_id in ids:
            if connection_id not in kept:
                logger.warning("lost the lease of session %s; stopping it here", connection_id)
                self.session_stop(connection_id, release=False, reason="lease_lost")
            elif kept[connection_id] != WaConnection.DesiredState.RUNNING:
                self.session_stop(connection_id, release=True, reason="desired_stopped")
        with self._lock:
            count = len(self.placements)
        WorkerNode.objects.filter(name=self.worker_name).update(session_count=count)

    def _ping_hosts(self, now: float) -> None:
        with self._lock:
            hosts = list(self.hosts.values())
        for host in hosts:
            limit = settings.WILDCAT_HOST_HANG_SECONDS
            if not host.said_hello:
                limit = max(limit, HOST_STARTUP_GRACE)
            if now - host.last_pong > limit:
                logger.error("session host pid %s stopped answering; killing it", host.pid)
                host.crash_reason = "hung"
                host.kill()
                continue
            host.ping_seq += 1
            host.ping_sent_at = time.monotonic()
            host.send({"op": "ping", "seq": host.ping_seq})

    def _restart_due(self, now: float) -> None:
        with self._lock:
            for connection_id, due in list(self.restart_due.items()):
                if due <= now and self.placements.get(connection_id, 0) is None:
                    logger.info("restarting session %s in a fresh host", connection_id)
                    self._place(connection_id)

    def _close_idle_hosts(self) -> None:
        with self._lock:
            idle = [h for h in self.hosts.values() if not h.sessions and h.driver_kind != SPARE]
            for host in idle:
                self.hosts.pop(host.host_id, None)
        for host in idle:
            host.close()

    # --- wake-ups ------------------------------------------------------------------------
    def _wakeups(self) -> None:
        """Forward Redis wake-ups for hosted sessions; without Redis the hosts poll instead."""
        if not settings.REDIS_URL:
            return
        while not self._stopping.is_set():
            try:
                client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=5)
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(CONNECTION_CHANNEL)
                while not self._stopping.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message and message.get("type") == "message":
                        for connection_id in wakeup_connection_ids(message["data"]):
                            self.wake(connection_id)
            except redis.RedisError:
                logger.warning("wake-up subscription lost; hosts poll until it is back", exc_info=True)
                self._stopping.wait(2.0)


def pool_can_host_sessions(pool_cls: type | str) -> bool:
    """Only pools whose tasks run in the worker's own process (threads, solo) can reach its supervisor."""
    module = pool_cls if isinstance(pool_cls, str) else pool_cls.__module__
    return not any(name in module for name in ("prefork", "eventlet", "gevent"))


class SessionSupervisorStep(bootsteps.StartStopStep):
    """Starts the supervisor in the worker's main process, only on workers that consume `sessions`."""

    requires = {"celery.worker.components:Pool"}

    def __init__(self, worker, **kwargs) -> None:
        self.supervisor: Supervisor | None = None
        self.hosting = SESSIONS_QUEUE in worker.app.amqp.queues.consume_from
        if self.hosting and not pool_can_host_sessions(worker.pool_cls):
            # Tasks would run in forked children that cannot reach this supervisor (and neonize hangs
            # there): leave the queue to workers that can host, instead of taking starts and dropping them.
            worker.app.amqp.queues.deselect([SESSIONS_QUEUE])
            self.hosting = False
            logger.error("this worker's pool cannot host sessions (use -P threads): not consuming the sessions queue")

    def start(self, worker) -> None:
        if not self.hosting:
            return
        self.supervisor = Supervisor(worker_name=worker.hostname)
        self.supervisor.start()

    def stop(self, worker) -> None:
        if self.supervisor is not None:
            self.supervisor.stop()
            self.supervisor = None
