"""Session runtime benchmark: memory per session, 500 sessions on one node, neonize host size, failover time.

Run: ``.venv/bin/python -m bench.sessions`` (see bench/README.md). It works on a throwaway SQLite
database and the file broker in a temporary folder unless BENCH_DATABASE_URL / BENCH_REDIS_URL
point it at servers (use an empty database: the bench creates and deletes its own rows).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.sessions import ROOT, rss_mb


def configure_environment(data_dir: Path) -> None:
    """Everything the bench and its child processes read, set before Django loads its settings."""
    os.environ["WILDCAT_DATA_DIR"] = str(data_dir)
    os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{data_dir / 'bench.sqlite3'}"
    os.environ["REDIS_URL"] = os.environ.get("BENCH_REDIS_URL", "")
    os.environ.setdefault("WILDCAT_SECRET_KEY", "bench-only-secret-key-0123456789abcdefghijklmnop")
    os.environ.setdefault("WILDCAT_LOG_LEVEL", "WARNING")
    os.environ["WILDCAT_SANDBOX_SESSIONS_PER_HOST"] = "1000"
    os.environ["WILDCAT_MAX_SESSIONS_PER_WORKER"] = "1000"
    os.environ["DJANGO_SETTINGS_MODULE"] = "wildcat.settings"
    os.environ["PYTHONUNBUFFERED"] = "1"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sessions")
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 100, 500])
    parser.add_argument("--failovers", type=int, default=5)
    parser.add_argument("--neonize-probe", metavar="STORE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.neonize_probe:
        neonize_probe(args.neonize_probe)
        return 0
    with tempfile.TemporaryDirectory(prefix="wc-bench-sessions-") as folder:
        data_dir = Path(folder)
        configure_environment(data_dir)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from bench.sessions import failover, memory

        results = {"memory": memory.run(counts=args.sessions)}
        results["neonize_host_rss_mb"] = neonize_host_rss(data_dir)
        times = failover.run(runs=args.failovers, log_dir=data_dir / "logs")
        results["failover_seconds"] = {"runs": times, "median": round(statistics.median(times), 2)}
        report(results)
        return 0 if targets_met(results) else 1


def neonize_host_rss(data_dir: Path) -> dict[str, float]:
    """A separate process shaped like a session host, with one neonize client constructed (no connect)."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.sessions", "--neonize-probe", str(data_dir / "neonize-probe.sqlite3")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    line = [row for row in out.stdout.splitlines() if row.startswith("{")][-1]
    return json.loads(line)


def neonize_probe(store: str) -> None:
    """Runs in the child: Django like a host, then neonize, then one NewClient on a SQLite store."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wildcat.settings")
    django.setup()
    before = rss_mb(os.getpid())
    from neonize.client import NewClient

    imported = rss_mb(os.getpid())
    client = NewClient(store, uuid="bench-neonize-probe")
    time.sleep(1.0)
    constructed = rss_mb(os.getpid())
    print(
        json.dumps(
            {"django_only": round(before, 1), "after_import": round(imported, 1), "one_client": round(constructed, 1)}
        )
    )
    sys.stdout.flush()
    del client
    os._exit(0)


def targets_met(results: dict) -> bool:
    """<= 5 MB marginal per sandbox session; every lease renewed on time; failover median <= 15 s."""
    memory, beat = results["memory"], results["memory"]["heartbeats"]
    checks = {
        "marginal RSS <= 5 MB/session": all(row["marginal_mb_per_session"] <= 5 for row in memory["steps"]),
        "heartbeats on time": beat["expired_seen"] == 0 and beat["max_heartbeat_age_s"] <= 2 * beat["renew_seconds"],
        "failover median <= 15 s": results["failover_seconds"]["median"] <= 15,
    }
    for name, ok in checks.items():
        print(f"{'met   ' if ok else 'MISSED'} {name}")
    return all(checks.values())


def report(results: dict) -> None:
    memory = results["memory"]
    print("\n== Session runtime benchmark")
    print(f"bare session host RSS: {memory['baseline_mb']:.1f} MB")
    for row in memory["steps"]:
        print(
            f"sandbox sessions in one host: {row['sessions']:>4}  host RSS {row['rss_mb']:7.1f} MB  "
            f"marginal {row['marginal_mb_per_session']:.3f} MB/session  (target <= 5 MB)"
        )
    beat = memory["heartbeats"]
    print(
        f"{beat['sessions']} sessions on one node for {beat['window_seconds']} s: oldest lease heartbeat "
        f"{beat['max_heartbeat_age_s']:.2f} s (renew every {beat['renew_seconds']} s, TTL {beat['ttl_seconds']} s), "
        f"expired leases seen: {beat['expired_seen']}, slowest host ping {beat['max_ping_ms']:.0f} ms"
    )
    neo = results["neonize_host_rss_mb"]
    print(
        f"neonize host RSS: {neo['one_client']:.1f} MB with one client constructed "
        f"(Django only {neo['django_only']:.1f} MB, after import {neo['after_import']:.1f} MB)"
    )
    failover = results["failover_seconds"]
    runs = ", ".join(f"{t:.1f}" for t in failover["runs"])
    print(f"failover kill -9 -> ready elsewhere: median {failover['median']:.1f} s (runs: {runs}; target <= 15 s)")
    print(json.dumps(results))


if __name__ == "__main__":
    sys.exit(main())
