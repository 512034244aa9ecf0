"""Memory per sandbox session in one host, and lease heartbeats with hundreds of sessions on one node."""

from __future__ import annotations

import subprocess
import sys
import time

from bench.sessions import ROOT, rss_mb, wait_for

HEARTBEAT_WINDOW_SECONDS = 20


def run(*, counts: list[int]) -> dict:
    from accounts.runtime.supervisor import Supervisor

    baseline = bare_host_rss()
    ids = ready_connections(max(counts), label="bench-memory")
    supervisor = Supervisor(worker_name="bench@sessions")
    supervisor.start()
    steps, started = [], 0
    try:
        for count in sorted(counts):
            for connection_id in ids[started:count]:
                outcome = supervisor.session_start(connection_id)
                if outcome != "started":
                    raise RuntimeError(f"session {connection_id} did not start: {outcome}")
            started = count
            rss = settled_host_rss(supervisor, ids[:count])
            steps.append(
                {
                    "sessions": count,
                    "rss_mb": round(rss, 1),
                    "marginal_mb_per_session": round((rss - baseline) / count, 3),
                }
            )
            print(f"  {count} sessions: host RSS {rss:.1f} MB", flush=True)
        heartbeats = watch_heartbeats(supervisor, ids[:started])
    finally:
        from accounts.models import WaConnection

        # Stopped first, so the failover part's workers do not pick these sessions up.
        WaConnection.objects.filter(pk__in=ids).update(desired_state="stopped")
        supervisor.stop()
    return {"baseline_mb": round(baseline, 1), "steps": steps, "heartbeats": heartbeats}


def bare_host_rss() -> float:
    """A session host with no sessions: the fixed cost every host pays."""
    host = subprocess.Popen(
        [sys.executable, "-m", "accounts.runtime.host_process"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        hello = host.stdout.readline()
        if '"hello"' not in hello:
            raise RuntimeError(f"unexpected first line from a host: {hello!r}")
        time.sleep(1.0)
        return rss_mb(host.pid)
    finally:
        host.stdin.close()
        host.wait(timeout=30)


def ready_connections(count: int, *, label: str) -> list[int]:
    """Sandbox connections with stored credentials, as if scanned earlier, so each host resumes them."""
    from accounts.models import SandboxCredential, WaConnection
    from apikeys.services import apikey_create

    api_key, _ = apikey_create(label=label)
    rows = [
        WaConnection(api_key=api_key, name=f"bench-{i}", driver="sandbox", desired_state="running")
        for i in range(count)
    ]
    WaConnection.objects.bulk_create(rows, batch_size=200)
    ids = list(WaConnection.objects.filter(api_key=api_key).order_by("pk").values_list("pk", flat=True))
    SandboxCredential.objects.bulk_create(
        [
            SandboxCredential(
                connection_id=pk,
                whatsapp_id=f"1555{pk:07d}@s.whatsapp.net",
                phone_number=f"+1555{pk:07d}",
                profile_name=f"Bench {pk}",
                platform="sandbox",
                device_key=f"{pk:064x}",
            )
            for pk in ids
        ],
        batch_size=200,
    )
    return ids


def settled_host_rss(supervisor, ids: list[int]) -> float:
    """Wait until the one host reports every session and they are all ready, then read its RSS."""
    from accounts.models import WaConnection

    def host():
        hosts = [h for h in supervisor.hosts.values() if h.driver_kind == "sandbox"]
        return hosts[0] if len(hosts) == 1 and len(hosts[0].reported) >= len(ids) else None

    the_host = wait_for(host, timeout=900, what=f"{len(ids)} sessions in one host", interval=1.0)
    wait_for(
        lambda: WaConnection.objects.filter(pk__in=ids, status="ready").count() == len(ids),
        timeout=900,
        what=f"{len(ids)} sessions ready",
        interval=0.5,
    )
    time.sleep(3.0)  # let the sink and the allocator settle
    return rss_mb(the_host.pid)


def watch_heartbeats(supervisor, ids: list[int]) -> dict:
    """Sample every lease for a while: how old is the oldest heartbeat, and did any lease lapse?"""
    from django.conf import settings
    from django.utils import timezone

    from accounts.models import WaConnection

    max_age = max_ping = 0.0
    expired_seen = 0
    deadline = time.monotonic() + HEARTBEAT_WINDOW_SECONDS
    while time.monotonic() < deadline:
        now = timezone.now()
        rows = WaConnection.objects.filter(pk__in=ids).values_list(
            "lease_heartbeat_at", "lease_expires_at", "lease_owner"
        )
        for heartbeat_at, expires_at, owner in rows:
            max_age = max(max_age, (now - heartbeat_at).total_seconds())
            expired_seen += int(expires_at <= now or owner != supervisor.node)
        max_ping = max([max_ping] + [h.pong_latency for h in supervisor.hosts.values()])
        time.sleep(0.5)
    return {
        "sessions": len(ids),
        "window_seconds": HEARTBEAT_WINDOW_SECONDS,
        "max_heartbeat_age_s": round(max_age, 2),
        "expired_seen": expired_seen,
        "max_ping_ms": round(max_ping * 1000, 1),
        "renew_seconds": settings.WILDCAT_LEASE_RENEW_SECONDS,
        "ttl_seconds": settings.WILDCAT_LEASE_TTL_SECONDS,
    }
