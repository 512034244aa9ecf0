"""Failover: kill -9 the worker and host that own a ready session; another worker resumes it without a scan."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import ConnectionEvent, SessionCommand, WaConnection
from accounts.services import connection_create, connection_start
from accounts.session_commands import session_command_create
from tests.accounts.runtime_support import RUNTIME_ENV, host_pids, node_pid, sandbox_scan, start_sessions_worker
from tests.support.processes import running, start_beat, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _row(connection_id: int) -> WaConnection:
    return WaConnection.objects.get(pk=connection_id)


def _pid_alive(pid: int) -> bool:
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]  # noqa: SIM115
    except OSError:
        return False
    return state != "Z"


def test_kill_9_owner_moves_the_session_and_its_commands_to_the_other_worker(api_key, redis_url, process_logs):
    # A warm spare host per worker, as in production: the survivor places the session without a cold start.
    workers = [start_sessions_worker(name, process_logs, WILDCAT_SPARE_HOSTS="1") for name in ("alpha", "bravo")]
    beat = start_beat(process_logs, **RUNTIME_ENV)
    with running(*workers, beat):
        connection = connection_create(api_key_id=api_key.pk, name="failover")
        connection_start(connection=connection)
        wait_until(lambda: _row(connection.pk).status == "pending", timeout=90, message="QR")
        sandbox_scan(connection)
        ready = wait_until(lambda: (row := _row(connection.pk)).status == "ready" and row, timeout=30, message="ready")
        owner = ready.lease_owner
        victim = next(w for w in workers if w.pid == node_pid(owner))
        survivor = next(w for w in workers if w is not victim)
        victim_hosts = host_pids(victim.pid)
        assert len(victim_hosts) == 2, "the owner runs the session in a host process, next to its spare"
        survivor_hosts = wait_until(lambda: host_pids(survivor.pid), timeout=20, message="the survivor's spare host")
        qr_count = connection.events.filter(kind=ConnectionEvent.Kind.QR).count()

        killed_at = timezone.now()
        victim.kill()  # SIGKILL to the worker's whole process group: the worker and its hosts
        wait_until(lambda: not any(_pid_alive(pid) for pid in victim_hosts), timeout=10, message="victim hosts gone")

        # Work the dead owner left behind: one command it had claimed (running) and one never seen.
        orphaned = SessionCommand.objects.create(
            connection=connection,
            kind=SessionCommand.Kind.CALL,
            payload={"op": "check_numbers", "args": {"numbers": ["+15550002222"]}},
            status=SessionCommand.Status.RUNNING,
            attempts=1,
        )
        SessionCommand.objects.filter(pk=orphaned.pk).update(updated_at=timezone.now() - timedelta(seconds=30))
        fresh = session_command_create(
            connection=connection,
            kind=SessionCommand.Kind.CALL,
            payload={"op": "check_numbers", "args": {"numbers": ["+4915112345678"]}},
        )

        moved = wait_until(
            lambda: (
                (row := _row(connection.pk)).status == "ready"
                and row.lease_owner != owner
                and row.ready_at > killed_at
                and row
            ),
            timeout=120,
            message="ready again on the other worker",
        )
        # The behaviour, with room for a loaded machine: the session moves once the dead node's lease
        # (5 s here) runs out, not after some unrelated timer. The speed target itself (median <= 15 s)
        # is measured by `python -m bench.sessions`.
        took = (moved.ready_at - killed_at).total_seconds()
        assert took < 60, f"failover took {took:.1f}s"
        assert node_pid(moved.lease_owner) == survivor.pid
        assert set(survivor_hosts) <= set(host_pids(survivor.pid)), "the spare took the session, a new spare waits"
        wait_until(lambda: len(host_pids(survivor.pid)) == 2, timeout=20, message="a new spare host beside the session")
        assert connection.events.filter(kind=ConnectionEvent.Kind.QR).count() == qr_count, "no new QR, no rescan"

        handover = connection.events.filter(kind=ConnectionEvent.Kind.OWNER, detail__to=moved.lease_owner).get()
        assert handover.detail["from"] == owner
        assert handover.detail["previous_expired"] is True
        assert connection.events.filter(
            kind=ConnectionEvent.Kind.STATE, to_status="disconnected", created_at__gte=killed_at
        ).exists(), "the timeline shows the session went down in between"

        finished = {}
        for command in (orphaned, fresh):
            done = wait_until(
                lambda pk=command.pk: (c := SessionCommand.objects.get(pk=pk)).status == "done" and c,
                timeout=20,
                message=f"command {command.pk} finished by the new owner",
            )
            finished[command.pk] = done.result
        # The sandbox's rule: numbers starting 1555000 are not on WhatsApp, every other valid one is.
        assert finished == {
            orphaned.pk: {"results": [{"number": "+15550002222", "on_whatsapp": False, "jid": ""}]},
            fresh.pk: {
                "results": [{"number": "+4915112345678", "on_whatsapp": True, "jid": "4915112345678@s.whatsapp.net"}]
            },
        }
        assert SessionCommand.objects.get(pk=orphaned.pk).attempts >= 2, "claimed again by the new owner"
        assert survivor.alive()
