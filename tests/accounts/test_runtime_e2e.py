"""End to end with real Celery workers, beat, Redis and the sandbox: QR, scan, ready, commands, stop, zombies."""

from __future__ import annotations

import pytest
from django.conf import settings

from accounts.models import ConnectionEvent, SessionCommand, WaConnection
from accounts.services import connection_create, connection_start, connection_stop
from accounts.session_commands import session_command_create
from tests.accounts.runtime_support import RUNTIME_ENV, host_pids, node_pid, sandbox_scan, start_sessions_worker
from tests.support.processes import running, start_beat, wait_until
from wildcat.models import WorkerNode

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _row(connection_id: int) -> WaConnection:
    return WaConnection.objects.get(pk=connection_id)


def test_create_qr_scan_ready_then_commands_and_stop(api_key, process_logs, tmp_path):
    # The pass decides the shape: Redis broker and wake-ups on PostgreSQL; on SQLite `make run`'s
    # defaults, no Redis at all, a file broker (in a folder of this test's own) and polling.
    env = {"REDIS_URL": settings.REDIS_URL}
    if not settings.REDIS_URL:
        env["WILDCAT_DATA_DIR"] = str(tmp_path / "embedded")
    worker = start_sessions_worker("solo", process_logs, **env)
    beat = start_beat(process_logs, **{**RUNTIME_ENV, **env})
    with running(worker, beat):
        connection = connection_create(api_key_id=api_key.pk, name="e2e")
        connection_start(connection=connection)

        pending = wait_until(
            lambda: (row := _row(connection.pk)).status == "pending" and row.last_qr and row,
            timeout=90,
            message="a QR code from the sandbox session",
        )
        assert pending.qr_expires_at > pending.last_qr_at
        assert node_pid(pending.lease_owner) == worker.pid
        assert len(host_pids(worker.pid)) == 1, "the session runs in a separate host process"

        sandbox_scan(connection)
        ready = wait_until(
            lambda: (row := _row(connection.pk)).status == "ready" and row, timeout=30, message="ready after scan"
        )
        assert ready.authenticated_at is not None and ready.ready_at >= ready.authenticated_at
        assert ready.phone_number and ready.whatsapp_id
        statuses = list(
            connection.events.filter(kind=ConnectionEvent.Kind.STATE).order_by("id").values_list("to_status", flat=True)
        )
        assert statuses[-3:] == ["pending", "authenticated", "ready"]
        wait_until(
            lambda: WorkerNode.objects.filter(pid=worker.pid, session_count=1).exists(),
            timeout=20,
            message="the worker reports one session",
        )

        call = session_command_create(
            connection=connection,
            kind=SessionCommand.Kind.CALL,
            payload={"op": "check_numbers", "args": {"numbers": ["+15550001111", "+4915112345678"]}},
        )
        done = wait_until(
            lambda: (c := SessionCommand.objects.get(pk=call.pk)).status == "done" and c,
            timeout=20,
            message="the owner runs the command",
        )
        # The sandbox's rule: numbers starting 1555000 are not on WhatsApp, every other valid one is.
        assert done.result == {
            "results": [
                {"number": "+15550001111", "on_whatsapp": False, "jid": ""},
                {"number": "+4915112345678", "on_whatsapp": True, "jid": "4915112345678@s.whatsapp.net"},
            ]
        }

        connection_stop(connection=_row(connection.pk))
        wait_until(lambda: not _row(connection.pk).lease_owner, timeout=20, message="the lease is released on stop")
        wait_until(lambda: not host_pids(worker.pid), timeout=20, message="the idle host exits")
        assert _row(connection.pk).status == "disconnected"


def test_a_silent_ready_session_is_restarted_by_the_zombie_watchdog(api_key, redis_url, process_logs):
    silent = {"WILDCAT_ZOMBIE_SECONDS": "2", "WILDCAT_SANDBOX_KEEPALIVE_SECONDS": "600"}
    worker = start_sessions_worker("zombie", process_logs, **silent)
    beat = start_beat(process_logs, **{**RUNTIME_ENV, **silent})
    with running(worker, beat):
        connection = connection_create(api_key_id=api_key.pk, name="zombie")
        connection_start(connection=connection)
        wait_until(lambda: _row(connection.pk).status == "pending", timeout=90, message="QR")
        sandbox_scan(connection)
        wait_until(lambda: _row(connection.pk).status == "ready", timeout=30, message="ready")

        restart = wait_until(
            lambda: connection.events.filter(kind=ConnectionEvent.Kind.RESTART, detail__reason="zombie").first(),
            timeout=30,
            message="a zombie restart on the timeline",
        )
        # Silent for at least the threshold (2 s), and caught within a few reconcile rounds of it.
        assert 2 <= restart.detail["silent_seconds"] < 30, restart.detail
        command = wait_until(
            lambda: SessionCommand.objects.filter(
                connection_id=connection.pk, kind=SessionCommand.Kind.RESTART, status="done"
            ).first(),
            timeout=30,
            message="the owner restarts the session",
        )
        assert command.payload == {"reason": "zombie"}
        assert _row(connection.pk).desired_state == "running"
