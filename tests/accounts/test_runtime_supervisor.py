"""The supervisor in-process: concurrent starts of one connection place it exactly once."""

from __future__ import annotations

import threading

import pytest
from django.db import close_old_connections

from accounts.models import ConnectionEvent, WaConnection
from accounts.runtime.supervisor import Supervisor
from tests.support import processes
from tests.support.processes import wait_until


@pytest.mark.django_db(transaction=True)
def test_concurrent_starts_of_one_connection_place_it_once(api_key, settings, monkeypatch):
    settings.WILDCAT_SPARE_HOSTS = 0
    monkeypatch.setenv("DATABASE_URL", processes.database_url_under_test())  # the host process reads the test database
    monkeypatch.setenv("REDIS_URL", "")
    connection = WaConnection.objects.create(api_key=api_key, name="once", driver="sandbox", desired_state="running")
    supervisor = Supervisor(worker_name="test@supervisor")
    supervisor.start()
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def start() -> None:
        try:
            barrier.wait(timeout=10)
            outcomes.append(supervisor.session_start(connection.pk))
        finally:
            close_old_connections()

    try:
        threads = [threading.Thread(target=start) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(outcomes) == ["already_hosted"] * 3 + ["started"]
        assert list(supervisor.placements) == [connection.pk] and len(supervisor.hosts) == 1
        [host] = supervisor.hosts.values()
        wait_until(lambda: str(connection.pk) in host.reported, timeout=60, message="the host reports the session")
        row = WaConnection.objects.get(pk=connection.pk)
        assert row.lease_owner == supervisor.node
        assert row.events.filter(kind=ConnectionEvent.Kind.OWNER).count() == 1
    finally:
        supervisor.stop()
    assert WaConnection.objects.get(pk=connection.pk).lease_owner == "", "a clean stop hands the lease back"
