"""Connect retries with the real neonize binding: failed dials are retried in fresh hosts, so nothing leaks.

No network here, so every real ``connect()`` fails at once with whatsmeow's dial error
("failed to dial whatsapp web websocket: ... no such host": whatsmeow ``socket/framesocket.go``
line 111, ``fmt.Errorf("%w: %w", ErrDialFailed, err)``, ``socket/constants.go`` line 43). Each call first opens a new
store container (goneonize ``main.go`` ``Neonize`` -> ``getDB`` -> ``sqlstore.New``) that neither
the failure nor ``Stop`` closes: one PostgreSQL backend, or one open SQLite file, per attempt.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from django.db import close_old_connections, connection

from accounts.models import WaConnection
from accounts.runtime.drivers import neonize_store
from accounts.runtime.supervisor import HostProcess, Supervisor
from tests.support import processes

ATTEMPTS = 20


def _host_pids() -> list[int]:
    """Session hosts started by this test process (read from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if parent == os.getpid() and b"accounts.runtime.host" in cmdline:
            found.append(int(stat.parent.name))
    return found


def _open_store_files(store_path: str) -> int:
    count = 0
    for pid in _host_pids():
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue  # the host exited meanwhile
        for fd in fds:
            try:
                if os.readlink(fd).startswith(store_path):
                    count += 1
            except OSError:
                continue
    return count


def _store_backends(connection_id: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
            [neonize_store.store_application_name(connection_id)],
        )
        return cursor.fetchone()[0]


@pytest.mark.timeout(600)  # twenty host processes start one after another on a shared machine
@pytest.mark.django_db(transaction=True)
def test_twenty_failed_connects_do_not_grow_the_store_connections(api_key, settings, monkeypatch, tmp_path):
    settings.WILDCAT_SPARE_HOSTS = 1  # a warm host takes each retry, so twenty take seconds, not minutes
    settings.WILDCAT_NEONIZE_CONNECT_RETRY_MAX_SECONDS = 0.0
    monkeypatch.setenv("DATABASE_URL", processes.database_url_under_test())
    monkeypatch.setenv("REDIS_URL", "")
    monkeypatch.setenv("WILDCAT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("WILDCAT_SESSION_POLL_SECONDS", "0.2")
    on_postgres = connection.vendor == "postgresql"
    row = WaConnection.objects.create(api_key=api_key, name="offline", driver="neonize", desired_state="running")
    store_path = str(neonize_store.sqlite_store_path(row.pk, tmp_path))
    supervisor = Supervisor(worker_name="test@retries")
    supervisor.start()
    samples: list[int] = []
    try:
        assert supervisor.session_start(row.pk) == "started"
        deadline = time.monotonic() + 240
        while supervisor.connect_failures.get(row.pk, 0) < ATTEMPTS:
            assert time.monotonic() < deadline, f"only {supervisor.connect_failures.get(row.pk, 0)} connects failed"
            samples.append(_store_backends(row.pk) if on_postgres else _open_store_files(store_path))
            time.sleep(0.05)
    finally:
        supervisor.stop()
        close_old_connections()
        # Retired hosts exit on their own once their stdin closes; the database must be free after the test.
        processes.wait_until(lambda: not _host_pids(), timeout=30, message="every session host exited")
    # Every attempt opened the store (so the samples saw real connections) and at most two hosts
    # overlap (the retired one exiting, the fresh one connecting): one store connection each.
    assert max(samples) >= 1
    assert max(samples) <= 2, f"store connections grew: {max(samples)} at once"
    row.refresh_from_db()
    assert (row.status, row.disconnect_reason) == ("disconnected", "connect_error")
    assert "no such host" in row.events.filter(to_status="disconnected").first().detail["error"]


@pytest.fixture
def supervisor_with_a_neonize_host(api_key):
    """A supervisor that placed one neonize session in a host; ``cat`` stands in for the host process."""
    row = WaConnection.objects.create(api_key=api_key, name="placed", driver="neonize", desired_state="running")
    supervisor = Supervisor(worker_name="test@placement")
    process = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    host = HostProcess(host_id=1, driver_kind="neonize", capacity=1, process=process)
    supervisor.hosts[1] = host
    supervisor.placements[row.pk] = 1
    supervisor.kinds[row.pk] = "neonize"
    host.sessions.add(row.pk)
    yield supervisor, host, row.pk
    host.close()
    process.wait(5)


@pytest.mark.django_db
def test_failed_connects_back_off_and_retire_the_host(supervisor_with_a_neonize_host, settings):
    supervisor, host, connection_id = supervisor_with_a_neonize_host
    settings.WILDCAT_NEONIZE_CONNECT_RETRY_MAX_SECONDS = 20
    waits = []
    for _ in range(4):
        before = time.monotonic()
        supervisor._on_host_message(host, {"op": "retry", "connection_id": connection_id, "reason": "connect_error"})
        waits.append(round(supervisor.restart_due[connection_id] - before))
        assert host.capacity == 0 and connection_id not in host.sessions  # nothing is placed there again
        assert supervisor.placements[connection_id] is None  # the lease is kept while it waits
        supervisor.placements[connection_id] = host.host_id  # as if placed again for the next attempt
    assert waits == [5, 10, 20, 20]
    supervisor._forget_failures({str(connection_id): {"ready": True}})
    assert connection_id not in supervisor.connect_failures
    supervisor._on_host_message(host, {"op": "retry", "connection_id": connection_id, "reason": "restart"})
    assert supervisor.restart_due[connection_id] <= time.monotonic()  # a restart goes at once


@pytest.mark.django_db
def test_a_stopped_neonize_session_never_leaves_its_host_open_to_another_connect(supervisor_with_a_neonize_host):
    supervisor, host, connection_id = supervisor_with_a_neonize_host
    supervisor.session_stop(connection_id, release=False, reason="desired_stopped")
    assert host.capacity == 0  # a start placed now gets a fresh host, not this one
    supervisor._close_idle_hosts()
    assert 1 not in supervisor.hosts
