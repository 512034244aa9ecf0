"""Failover time: kill -9 the worker that owns a ready session (its hosts die with it) until it is ready elsewhere."""

from __future__ import annotations

import time
from pathlib import Path

from bench.sessions import wait_for


def run(*, runs: int, log_dir: Path) -> list[float]:
    """Production timer defaults (lease TTL, renewal, reconcile interval); two sessions workers and beat."""
    from accounts.models import WaConnection
    from bench.sessions.memory import ready_connections
    from tests.support.processes import start_beat

    log_dir.mkdir(parents=True, exist_ok=True)
    [connection_id] = ready_connections(1, label="bench-failover")
    beat = start_beat(log_dir)
    workers = [_worker(f"failover-{i}", log_dir) for i in range(2)]
    times: list[float] = []
    try:
        row = wait_for(lambda: _ready_owned(connection_id), timeout=120, what="the first start")
        for attempt in range(runs):
            victim = next(w for w in workers if w.pid == _owner_pid(row.lease_owner))
            old_owner = row.lease_owner
            killed_at = time.time()
            victim.kill()
            workers.remove(victim)
            row = wait_for(
                lambda old=old_owner, t=killed_at: _ready_owned(connection_id, not_owner=old, ready_after=t),
                timeout=120,
                what="the session to be ready elsewhere",
                interval=0.05,
            )
            took = row.ready_at.timestamp() - killed_at
            times.append(round(took, 2))
            print(f"  failover {attempt + 1}: {took:.1f} s", flush=True)
            workers.append(_worker(f"failover-{attempt + 2}", log_dir))
        WaConnection.objects.filter(pk=connection_id).update(desired_state="stopped")
    finally:
        for child in [*workers, beat]:
            child.stop()
    return times


def _worker(name: str, log_dir: Path):
    from tests.support.processes import start_worker

    child = start_worker(name, "sessions", log_dir, pool="threads", concurrency=2)
    wait_for(lambda: " ready." in child.log_text(), timeout=90, what=f"worker {name} to start")
    return child


def _owner_pid(lease_owner: str) -> int:
    return int(lease_owner.rsplit(":", 2)[1])


def _ready_owned(connection_id: int, *, not_owner: str = "", ready_after: float = 0.0):
    from django.utils import timezone

    from accounts.models import WaConnection

    row = WaConnection.objects.get(pk=connection_id)
    live = row.lease_owner and row.lease_expires_at and row.lease_expires_at > timezone.now()
    if not live or row.lease_owner == not_owner or row.status != WaConnection.Status.READY:
        return None
    if ready_after and (row.ready_at is None or row.ready_at.timestamp() <= ready_after):
        return None
    return row
