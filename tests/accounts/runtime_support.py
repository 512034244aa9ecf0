"""Helpers for the session-runtime tests: short timers for child workers and finding session-host processes."""

from __future__ import annotations

from pathlib import Path

from accounts.models import SessionCommand, WaConnection
from accounts.session_commands import session_command_create
from tests.support.processes import ChildProcess, start_worker

# Short timers so failover and restarts happen within seconds; every one of them is a setting.
RUNTIME_ENV = {
    "WILDCAT_LEASE_TTL_SECONDS": "5",
    "WILDCAT_LEASE_RENEW_SECONDS": "0.5",
    "WILDCAT_RECONCILE_SECONDS": "0.5",
    "WILDCAT_SESSION_POLL_SECONDS": "0.3",
    "WILDCAT_SESSION_SAFETY_POLL_SECONDS": "1",
    "WILDCAT_HOST_RESTART_BACKOFF_MAX": "1",
    "WILDCAT_SPARE_HOSTS": "0",  # so host counts below are session hosts only; the failover test uses one
    "WILDCAT_COMMAND_STALE_SECONDS": "2",
    "WILDCAT_SANDBOX_QR_FIRST_SECONDS": "30",
    "WILDCAT_SANDBOX_QR_NEXT_SECONDS": "10",
    "WILDCAT_SANDBOX_CONNECT_SECONDS": "0.1",
    "WILDCAT_SANDBOX_KEEPALIVE_SECONDS": "1",
    "WILDCAT_LOG_LEVEL": "INFO",
}


def start_sessions_worker(name: str, log_dir: Path, **env: str) -> ChildProcess:
    return start_worker(name, "sessions", log_dir, pool="threads", concurrency=4, **{**RUNTIME_ENV, **env})


def host_pids(worker_pid: int) -> list[int]:
    """Session-host processes whose parent is this worker (read from /proc, no extra dependency)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == worker_pid and b"accounts.runtime.host" in cmdline:
            found.append(int(stat.parent.name))
    return sorted(found)


def node_pid(lease_owner: str) -> int:
    """Lease owners are ``<worker hostname>:<pid>:<suffix>``."""
    return int(lease_owner.rsplit(":", 2)[1])


def sandbox_scan(connection: WaConnection) -> SessionCommand:
    """What the sandbox scan endpoint does: a durable call that the session's owner runs."""
    return session_command_create(
        connection=connection, kind=SessionCommand.Kind.CALL, payload={"op": "scan", "args": {}}
    )
