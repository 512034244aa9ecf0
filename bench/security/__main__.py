"""``python -m bench.security``: the throttle under a burst, Redis and PostgreSQL restarted under load,
and (``--fuzz``) the long schemathesis run.

The fault runs use a private redis-server (a free port) and a private PostgreSQL cluster
(``pg_createcluster 15 wcsec``, port 5442); the shared services on 6379 and 5432 are never touched.
Every figure is printed and written to ``<log dir>/results.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.security.load import Target, last_503_after_back, recovery_seconds, run_load, run_with_fault
from bench.security.stack import (
    ROOT,
    App,
    PrivatePostgres,
    PrivateRedis,
    Receiver,
    SharedPostgresSimulation,
    wait_for,
)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.security", description=__doc__)
    parser.add_argument("--seconds", type=float, default=30, help="load per fault run (default 30)")
    parser.add_argument("--outage", type=float, default=6, help="seconds each dependency is down (default 6)")
    parser.add_argument("--clients", type=int, default=6, help="concurrent clients, one key each (default 6)")
    parser.add_argument("--fuzz", type=int, default=0, help="also run the fuzzer with this many examples per operation")
    parser.add_argument("--log-dir", default="", help="keep logs here (default: a temporary folder)")
    parser.add_argument(
        "--simulate-postgres-restart",
        action="store_true",
        help="kill the connections of a database on the shared server instead of restarting a private cluster",
    )
    return parser.parse_args(argv)


def _targets(app: App, base_url: str, receiver: Receiver, count: int, label: str) -> list[Target]:
    targets = []
    for n in range(count):
        key = app.manage("createapikey", "--label", f"{label}-{n}-{time.time_ns()}").splitlines()[-1].strip()
        request = urllib.request.Request(
            base_url + "/api/v1/webhooks",
            data=json.dumps({"url": receiver.url, "event_types": ["webhook.test"]}).encode(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            targets.append(Target(key=key, endpoint_id=json.loads(response.read())["id"]))
    return targets


def _figures(name: str, tally, *, back_at: float | None = None) -> dict:
    figures = {
        "run": name,
        "requests": tally.requests,
        "statuses": dict(sorted(tally.statuses.items())),
        "unexpected_5xx": tally.unexpected_5xx(),
        "503": tally.statuses.get(503, 0),
        "transport_errors": tally.transport_errors,
        "accepted_work": len(tally.accepted),
    }
    if back_at is not None:
        figures["recovery_seconds"] = recovery_seconds(tally, back_at)
        figures["last_503_after_back_seconds"] = last_503_after_back(tally, back_at)
    print(json.dumps(figures), flush=True)
    return figures


def burst(app: App, receiver: Receiver) -> tuple[dict, object]:
    """One key, many clients, far past a 120/min throttle: 429 with Retry-After, never a 5xx."""
    base_url = app.start_web(rate="120/min", workers=2)
    [target] = _targets(app, base_url, receiver, 1, "burst")
    tally = run_load(base_url, [target] * 8, 8)
    figures = _figures("burst past the throttle", tally)
    figures["retry_after_missing"] = tally.retry_after_missing
    return figures, tally


def faults(app: App, receiver: Receiver, redis: PrivateRedis, postgres, args) -> tuple[list, list]:
    base_url = app.start_web(rate="1000000/min", workers=3)
    targets = _targets(app, base_url, receiver, args.clients, "faults")
    common = {"seconds": args.seconds, "break_at": args.seconds / 4, "outage": args.outage}
    results, tallies = [], []
    for name, break_it, restore in (
        ("Redis killed and restarted empty", redis.kill, redis.start),
        (
            "PostgreSQL connections killed for the outage (simulated restart)"
            if postgres.simulated
            else "PostgreSQL stopped and started",
            postgres.stop,
            postgres.start,
        ),
    ):
        tally, back_at, broke_at = run_with_fault(base_url, targets, break_it=break_it, restore=restore, **common)
        tallies.append(tally)
        results.append({**_figures(name, tally, back_at=back_at), "down_seconds": round(back_at - broke_at, 1)})
    return results, tallies


def drain(receiver: Receiver, tallies: list, timeout: float = 240) -> dict:
    """Every delivery the API accepted (202) must reach the receiver: work lost = accepted - arrived."""
    accepted = {webhook_id for tally in tallies for webhook_id in tally.accepted.values()}
    try:
        took = wait_for(lambda: accepted <= receiver.seen, timeout, "every accepted delivery")
    except TimeoutError:
        took = None
    lost = len(accepted - receiver.seen)
    figures = {"accepted_deliveries": len(accepted), "arrived": len(accepted & receiver.seen), "work_lost": lost,
               "drain_seconds": round(took, 1) if took is not None else None}  # fmt: skip
    print(json.dumps(figures), flush=True)
    return figures


def fuzz_long(examples: int) -> dict:
    env = dict(os.environ, WILDCAT_TEST_FUZZ_EXAMPLES=str(examples))
    argv = [sys.executable, "-m", "pytest", "tests/security/test_fuzz.py", "-q", "-s", "-p", "no:cacheprovider"]
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=6 * 3600)
    summary = [line for line in done.stdout.splitlines() if " operations, " in line]
    figures = {"run": f"fuzz, {examples} examples per operation", "passed": done.returncode == 0, "summary": summary}
    print(json.dumps(figures), flush=True)
    return figures


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    log_dir = Path(args.log_dir or tempfile.mkdtemp(prefix="wildcat-faults-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    # A private cluster needs pg_createcluster and root; otherwise the restart is simulated (and says so).
    private = shutil.which("pg_createcluster") is not None and os.geteuid() == 0 and not args.simulate_postgres_restart
    postgres = PrivatePostgres() if private else SharedPostgresSimulation()
    redis, receiver = PrivateRedis(log_dir), Receiver()
    redis.start()
    postgres.ensure()
    app = App(postgres.url, redis.url, log_dir)
    results: dict = {"log_dir": str(log_dir), "postgres_restart_simulated": postgres.simulated}
    try:
        app.manage("migrate", "--noinput", "-v0")
        app.start_workers()
        results["burst"], burst_tally = burst(app, receiver)
        results["faults"], tallies = faults(app, receiver, redis, postgres, args)
        results["drain"] = drain(receiver, [burst_tally, *tallies])
        # Celery workers exit when the broker vanishes under in-flight acks_late tasks (a kombu error
        # while restoring unacked messages); like compose, the run restarts them and counts it.
        results["process_restarts"] = app.restarts()
        print(json.dumps({"process_restarts": results["process_restarts"]}), flush=True)
    finally:
        app.stop()
        redis.kill()
        receiver.close()
    if args.fuzz:
        results["fuzz"] = fuzz_long(args.fuzz)
    (log_dir / "results.json").write_text(json.dumps(results, indent=2))
    print(f"logs and results.json in {log_dir}")
    return 0 if _met(results) else 1


def _met(results: dict) -> bool:
    burst_ok = results["burst"]["unexpected_5xx"] == 0 and results["burst"]["statuses"].get(429, 0) > 0
    faults_ok = all(run["unexpected_5xx"] == 0 and run["transport_errors"] == 0 for run in results["faults"])
    recovered = all(run["recovery_seconds"] is not None for run in results["faults"])
    fuzz_ok = results.get("fuzz", {}).get("passed", True)
    return burst_ok and faults_ok and recovered and results["drain"]["work_lost"] == 0 and fuzz_ok


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
