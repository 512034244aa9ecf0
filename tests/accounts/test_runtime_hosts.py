"""Session hosts: a crashed host only takes its own sessions down, and they come back with a crash row."""

from __future__ import annotations

import os
import signal
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import ConnectionEvent, WaConnection
from accounts.services import connection_create, connection_start
from tests.accounts.runtime_support import RUNTIME_ENV, host_pids, sandbox_scan, start_sessions_worker
from tests.support.processes import running, start_beat, wait_until
from wildcat.models import WorkerNode

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _ready(api_key, name: str) -> WaConnection:
    connection = connection_create(api_key_id=api_key.pk, name=name)
    connection_start(connection=connection)
    wait_until(lambda: WaConnection.objects.get(pk=connection.pk).status == "pending", timeout=90, message="QR")
    sandbox_scan(connection)
    wait_until(lambda: WaConnection.objects.get(pk=connection.pk).status == "ready", timeout=30, message="ready")
    return WaConnection.objects.get(pk=connection.pk)


def test_a_host_crash_leaves_other_hosts_up_and_its_sessions_return(api_key, redis_url, process_logs):
    # One session per host: full isolation, as for neonize.
    worker = start_sessions_worker(
        "isolated", process_logs, WILDCAT_SANDBOX_SESSIONS_PER_HOST="1", WILDCAT_HOST_HANG_SECONDS="8"
    )
    beat = start_beat(process_logs, **RUNTIME_ENV)
    with running(worker, beat):
        first, second = _ready(api_key, "first"), _ready(api_key, "second")
        hosts = wait_until(lambda: len(pids := host_pids(worker.pid)) == 2 and pids, timeout=20, message="2 hosts")

        crashed_at = timezone.now()
        os.kill(hosts[0], signal.SIGKILL)

        crash = wait_until(
            lambda: ConnectionEvent.objects.filter(kind=ConnectionEvent.Kind.CRASH).first(),
            timeout=20,
            message="a crash row on the timeline",
        )
        assert crash.detail["host_pid"] == hosts[0]
        assert crash.detail["exit_code"] == -signal.SIGKILL
        hit = WaConnection.objects.get(pk=crash.connection_id)
        spared = second if hit.pk == first.pk else first
        assert ConnectionEvent.objects.filter(kind=ConnectionEvent.Kind.CRASH).count() == 1

        back = wait_until(
            lambda: (
                (row := WaConnection.objects.get(pk=hit.pk)).status == "ready" and row.ready_at > crashed_at and row
            ),
            timeout=30,
            message="the crashed host's session is ready again",
        )
        assert back.lease_owner == hit.lease_owner, "restarted by the same worker"
        restarted = wait_until(lambda: len(p := host_pids(worker.pid)) == 2 and p, timeout=20, message="2 hosts")
        assert hosts[0] not in restarted and hosts[1] in restarted

        untouched = WaConnection.objects.get(pk=spared.pk)
        assert untouched.status == "ready" and untouched.ready_at == spared.ready_at
        disturbances = (ConnectionEvent.Kind.STATE, ConnectionEvent.Kind.CRASH, ConnectionEvent.Kind.OWNER)
        assert not untouched.events.filter(created_at__gte=crashed_at, kind__in=disturbances).exists()

        # A node that loses a lease stops that session: hand the spared one to another (fake) owner.
        WaConnection.objects.filter(pk=spared.pk).update(
            lease_owner="elsewhere:1:abc", lease_expires_at=timezone.now() + timedelta(seconds=60)
        )
        wait_until(lambda: len(host_pids(worker.pid)) == 1, timeout=20, message="the stolen session's host exits")
        wait_until(
            lambda: WorkerNode.objects.filter(pid=worker.pid, session_count=1).exists(),
            timeout=20,
            message="the worker reports one session",
        )

        # A host that stops answering (frozen here with SIGSTOP) is killed and its session restarted.
        [frozen] = host_pids(worker.pid)
        frozen_at = timezone.now()
        os.kill(frozen, signal.SIGSTOP)
        hung = wait_until(
            lambda: ConnectionEvent.objects.filter(kind=ConnectionEvent.Kind.CRASH, detail__reason="hung").first(),
            timeout=30,
            message="the hung host is killed and recorded",
        )
        assert (hung.connection_id, hung.detail["host_pid"]) == (hit.pk, frozen)
        wait_until(
            lambda: (row := WaConnection.objects.get(pk=hit.pk)).status == "ready" and row.ready_at > frozen_at,
            timeout=30,
            message="ready again after the hung host was replaced",
        )
