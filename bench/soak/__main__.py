"""Faults together, measured: a long run on PostgreSQL and Redis with sandbox connections, steady
traffic, misbehaving webhook receivers, and workers, Redis and PostgreSQL killed or restarted at random
moments. It ends by counting what was accepted against what was done: 0 lost and 0 duplicated is the
target in every category, and every fault must be recovered from without help.

Everything runs on a private stack (its own PostgreSQL cluster and redis-server, see bench/security),
so the shared services on 5432 and 6379 are never touched. `make soak` runs it with the defaults.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
from pathlib import Path

from bench.security.stack import App, PrivatePostgres, PrivateRedis, wait_for
from bench.soak import tally as counting
from bench.soak.client import SoakClient
from bench.soak.faults import FaultInjector
from bench.soak.receivers import SoakReceiver
from bench.soak.traffic import Traffic

WEBHOOK_TIMEOUT = 3.0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0, help="traffic and faults (default 10)")
    parser.add_argument("--connections", type=int, default=50, help="sandbox connections (default 50)")
    parser.add_argument("--send-rate", type=float, default=6.0, help="messages sent per second (default 6)")
    parser.add_argument("--inbound-rate", type=float, default=2.0, help="messages injected per second (default 2)")
    parser.add_argument("--fault-rounds", type=int, default=2, help="times each fault is injected (default 2)")
    parser.add_argument("--drain-minutes", type=float, default=6.0, help="wait for the backlog at the end")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--log-dir", type=Path, default=None, help="default: a new temporary folder")
    return parser.parse_args(argv)


def soak_settings(app: App, connections: int) -> None:
    """Short timers so the recoveries and retries the soak counts happen within the run."""
    app.env.update(
        WILDCAT_MAX_CONNECTIONS_PER_KEY=str(max(connections, 50)),
        WILDCAT_SEND_RATE_PER_MINUTE="0",
        WILDCAT_SANDBOX_CONNECT_SECONDS="0.1",
        WILDCAT_RECONCILE_SECONDS="1",
        WILDCAT_WEBHOOK_TIMEOUT=str(WEBHOOK_TIMEOUT),
        WILDCAT_WEBHOOK_CLAIM_SECONDS="20",
        WILDCAT_WEBHOOK_RETRY_SCALE="0.02",
        WILDCAT_LOG_LEVEL="WARNING",
    )


def link_connections(client: SoakClient, count: int) -> list[int]:
    """Create sandbox connections through the API, start them, scan each QR, wait until all are ready."""
    ids = []
    for number in range(count):
        answer = client.call("POST", "/api/v1/connections", {"name": f"soak-{number}", "driver": "sandbox"})
        ids.append(int(answer.body["id"]))
        client.call("POST", f"/api/v1/connections/{ids[-1]}/start", {})

    def status_of(connection_id: int) -> str:
        return str(client.call("GET", f"/api/v1/connections/{connection_id}").body.get("status"))

    wait_for(lambda: all(status_of(i) in ("pending", "ready") for i in ids), 300, "QR codes")
    for connection_id in ids:
        client.call("POST", f"/api/v1/connections/{connection_id}/sandbox/scan", {})
    wait_for(lambda: all(status_of(i) == "ready" for i in ids), 300, "all connections ready")
    return ids


def drain(database_url: str, minutes: float) -> float:
    """Wait until no message or delivery is on its way; returns the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < minutes * 60:
        try:
            if counting.unfinished(database_url) == 0:
                break
        except Exception as exc:  # the database may still be coming back
            print(f"[soak] drain check failed: {exc!r}", flush=True)
        time.sleep(2)
    return round(time.monotonic() - started, 1)


def report(result: counting.Tally, faults: FaultInjector, restarts: dict[str, int], drained: float) -> None:
    print("\n== soak results")
    for title, figures in (("messages", result.messages), ("inbound", result.inbound), ("webhooks", result.webhooks)):
        print(f"{title:9s} " + ", ".join(f"{name} {value}" for name, value in figures.items()))
    for record in faults.records:
        shown = "NOT recovered" if record.recovered_after is None else f"recovered in {record.recovered_after} s"
        print(f"fault     at {record.at:7.1f} s  {record.kind:22s} {shown}")
    print(f"processes restarted by their supervisor: {restarts}; backlog drained in {drained} s")
    for line in result.examples:
        print(f"  example: {line}")


def run(args: argparse.Namespace, log_dir: Path) -> bool:
    postgres, redis = PrivatePostgres(database="wildcat_soak"), PrivateRedis(log_dir)
    postgres.ensure()
    redis.start()
    app = App(postgres.url, redis.url, log_dir)
    soak_settings(app, args.connections)
    receivers = [SoakReceiver(name="healthy"), SoakReceiver(name="flaky", misbehave_share=0.15,
                                                           stall_seconds=WEBHOOK_TIMEOUT + 3)]  # fmt: skip
    try:
        app.manage("migrate", "--noinput")
        key = app.manage("createapikey", "--label", "soak").splitlines()[-1].strip()
        base = app.start_web(rate="100000000/min")
        app.start_workers()
        app.start_sessions_worker()
        client = SoakClient(base, key)
        for receiver in receivers:
            client.call("POST", "/api/v1/webhooks", {"url": receiver.url, "description": receiver.name})
        connection_ids = link_connections(client, args.connections)
        print(f"[soak] {len(connection_ids)} connections ready; traffic for {args.minutes} min", flush=True)
        traffic = Traffic(base, key, connection_ids, send_rate=args.send_rate, inbound_rate=args.inbound_rate)
        faults = FaultInjector(app=app, redis=redis, postgres=postgres, base=base, key=key,
                               probe_connection_ids=connection_ids, healthy=receivers[0],
                               ledger=traffic.ledger, seed=args.seed)  # fmt: skip
        started = time.monotonic()
        traffic.start()
        faults.run(faults.plan(args.minutes, args.fault_rounds), started)
        time.sleep(args.minutes * 60)
        traffic.stop()
        faults.join()
        drained = drain(postgres.url, args.drain_minutes)
        time.sleep(WEBHOOK_TIMEOUT)  # let the last 2xx answers be counted by the receivers
        result = counting.Tally()
        counting.count_messages(postgres.url, traffic.ledger, result)
        counting.count_inbound(postgres.url, traffic.ledger, result)
        counting.count_webhooks(postgres.url, receivers, result)
        report(result, faults, app.restarts(), drained)
        figures = {"messages": result.messages, "inbound": result.inbound, "webhooks": result.webhooks}
        figures["faults"] = [vars(record) for record in faults.records]
        (log_dir / "soak.json").write_text(json.dumps(figures, indent=2))
        problems = result.failures() + [f"{r.kind} not recovered" for r in faults.records if r.recovered_after is None]
        print("== soak " + ("MET its targets" if not problems else "MISSED: " + "; ".join(problems)))
        return not problems
    finally:
        app.stop()
        for receiver in receivers:
            receiver.close()
        redis.kill()
        postgres.stop()


def _exit_on_terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # runs the cleanup that stops the private stack


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, _exit_on_terminate)
    args = parse_args(argv)
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="wildcat-soak-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    print(f"[soak] logs in {log_dir}", flush=True)
    return 0 if run(args, log_dir) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
