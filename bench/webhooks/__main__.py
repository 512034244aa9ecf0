"""``python -m bench.webhooks``: N events through one webhooks worker vs a plain posting loop.

Both send the same signed payloads to the same local receiver in one run. Prints deliveries/s for
each and their ratio (target >= 0.5), p50/p99 event-to-delivery latency at a rate the worker is not
saturated by (target p99 <= 500 ms), and how many deliveries were lost (target 0).
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
TARGET_RATIO = 0.5
TARGET_P99_MS = 500.0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.webhooks", description=__doc__)
    parser.add_argument("-n", "--events", type=int, default=5000, help="events for the throughput run (default 5000)")
    parser.add_argument("--latency-events", type=int, default=200, help="events for the latency run (default 200)")
    parser.add_argument("--rate", type=float, default=20.0, help="events/s in the latency run (default 20)")
    parser.add_argument("--concurrency", type=int, default=8, help="pool size of the webhooks worker (default 8)")
    parser.add_argument("--pool", default="threads", choices=["threads", "prefork"], help="pool (default threads)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("WILDCAT_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/wildcat_bench"),
    )
    parser.add_argument("--redis-url", default=os.environ.get("WILDCAT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"))
    return parser.parse_args(argv)


class Receiver:
    """A local receiver that records when each webhook-id first arrived."""

    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        self.count = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return None

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                now = time.time()
                with receiver.lock:
                    receiver.count += 1
                    receiver.arrivals.setdefault(self.headers.get("webhook-id", ""), now)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def ensure_database(database_url: str) -> None:
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')


def app_env(args: argparse.Namespace, data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=args.database_url,
        REDIS_URL=args.redis_url,
        WILDCAT_DEBUG="false",
        WILDCAT_SECRET_KEY="bench-only-secret-key-0123456789abcdefghijklmnop",
        WILDCAT_DATA_DIR=str(data_dir),
        WILDCAT_LOG_LEVEL="WARNING",
        WILDCAT_WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8",
        DJANGO_SETTINGS_MODULE="wildcat.settings",
    )
    return env


def start_worker(env: dict[str, str], pool: str, concurrency: int, log: Path) -> subprocess.Popen:
    argv = [
        PYTHON, "-m", "celery", "-A", "wildcat", "worker", "-n", "bench-webhooks@%h", "-Q", "webhooks",
        "-P", pool, "-c", str(concurrency), "--without-gossip", "--without-mingle", "-l", "WARNING",
    ]  # fmt: skip
    with log.open("ab") as sink:
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out after {timeout}s waiting for {what}")


def emit_one(api_key_id: int, index: int) -> tuple[int, float]:
    from django.db import transaction

    from webhooks.services import event_emit

    with transaction.atomic():
        event = event_emit(
            api_key_id=api_key_id, event_type="message.received", data={"id": index, "text": f"bench message {index}"}
        )
    return event.pk, time.time()


def message_ids(event_ids: list[int]) -> dict[int, str]:
    from webhooks.models import WebhookDelivery

    rows = WebhookDelivery.objects.filter(event_id__in=event_ids).values_list("event_id", "message_id")
    return dict(rows)


def throughput_run(api_key_id: int, receiver: Receiver, count: int) -> tuple[float, float, list[int]]:
    """Emit N events in one transaction; time from its commit (when the tasks go out) to the last arrival."""
    from django.db import transaction

    from webhooks.services import event_emit

    started = time.time()
    commit: list[float] = []
    with transaction.atomic():
        # Registered first, so it runs first after the COMMIT: the clock starts before any wake-up.
        transaction.on_commit(lambda: commit.append(time.time()))
        event_ids = [
            event_emit(api_key_id=api_key_id, event_type="message.received", data={"id": i, "text": f"bench {i}"}).pk
            for i in range(count)
        ]
    committed = commit[0]
    emit_rate = count / (committed - started)
    ids = message_ids(event_ids)
    wait_for(lambda: all(mid in receiver.arrivals for mid in ids.values()), 600, "every throughput delivery")
    arrivals = sorted(receiver.arrivals[mid] for mid in ids.values())
    first, half, last = (1000 * (arrivals[index] - committed) for index in (0, len(arrivals) // 2, -1))
    print(f"throughput run: first delivery after {first:.0f} ms, half after {half:.0f} ms, last after {last:.0f} ms")
    return count / (arrivals[-1] - committed), emit_rate, event_ids


def latency_run(api_key_id: int, receiver: Receiver, count: int, rate: float) -> tuple[list[float], list[int]]:
    emitted: dict[int, float] = {}
    interval = 1.0 / rate
    next_at = time.monotonic()
    for index in range(count):
        next_at += interval
        event_id, at = emit_one(api_key_id, 100_000 + index)
        emitted[event_id] = at
        time.sleep(max(0.0, next_at - time.monotonic()))
    ids = message_ids(list(emitted))
    wait_for(lambda: all(mid in receiver.arrivals for mid in ids.values()), 300, "every latency delivery")
    return [(receiver.arrivals[ids[event_id]] - at) * 1000 for event_id, at in emitted.items()], list(emitted)


def plain_loop(bodies: list[tuple[bytes, dict[str, str]]], url: str) -> float:
    """The same payloads posted one after another over one kept-alive connection, as the worker does."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=15)
    start = time.time()
    for body, headers in bodies:
        connection.request("POST", parts.path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        if not 200 <= response.status < 300:
            raise RuntimeError(f"plain loop got HTTP {response.status}")
    elapsed = time.time() - start
    connection.close()
    return len(bodies) / elapsed


def signed_bodies(event_ids: list[int]) -> list[tuple[bytes, dict[str, str]]]:
    from webhooks import signing
    from webhooks.models import WebhookDelivery

    rows = WebhookDelivery.objects.filter(event_id__in=event_ids).select_related("event", "endpoint")
    now = int(time.time())
    return [
        (
            row.event.body.encode(),
            signing.signed_headers([row.endpoint.secret], f"plain_{row.pk}", now, row.event.body.encode()),
        )
        for row in rows
    ]


def lost_count(event_ids: list[int]) -> int:
    from webhooks.models import WebhookDelivery

    return WebhookDelivery.objects.filter(event_id__in=event_ids).exclude(status="delivered").count()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def setup_django(env: dict[str, str]) -> int:
    """Migrate, then create a key with one endpoint; returns the key id."""
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    os.environ.update(env)
    import django

    django.setup()
    from apikeys.services import apikey_create

    forget_earlier_runs()
    api_key, _secret = apikey_create(label=f"bench-webhooks-{int(time.time() * 1000)}")
    return api_key.pk


def forget_earlier_runs() -> None:
    """The benchmark database is the benchmark's own: an earlier run's endpoints (their receivers long
    gone, their ports perhaps reused) and retries must not compete with this run's deliveries."""
    from django.db import connection

    from webhooks.models import DeliveryAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent

    tables = [model._meta.db_table for model in (DeliveryAttempt, WebhookDelivery, WebhookEvent, WebhookEndpoint)]
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE " + ", ".join(connection.ops.quote_name(table) for table in tables))


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    ensure_database(args.database_url)
    receiver = Receiver()
    with tempfile.TemporaryDirectory(prefix="wildcat-bench-webhooks-") as tmp:
        env = app_env(args, Path(tmp))
        api_key_id = setup_django(env)
        from webhooks.services import endpoint_create

        endpoint_create(api_key_id=api_key_id, url=receiver.url)
        import redis

        redis.Redis.from_url(args.redis_url).flushdb()
        worker = start_worker(env, args.pool, args.concurrency, Path(tmp) / "worker.log")
        try:
            warm_ids = [emit_one(api_key_id, -1 - index)[0] for index in range(20)]
            wait_for(lambda: lost_count(warm_ids) == 0, 120, "the worker to start and deliver the warm-up")
            rate, emit_rate, thr_ids = throughput_run(api_key_id, receiver, args.events)
            latencies, lat_ids = latency_run(api_key_id, receiver, args.latency_events, args.rate)
        finally:
            os.killpg(worker.pid, 15)
            worker.wait(timeout=60)
        plain = plain_loop(signed_bodies(thr_ids), receiver.url)
        lost = lost_count(thr_ids + lat_ids + warm_ids)
    print(f"event_emit inside one transaction: {emit_rate:8.1f} events/s (not part of the ratio)")
    return report(args, rate, plain, latencies, lost)


def report(args: argparse.Namespace, rate: float, plain: float, latencies: list[float], lost: int) -> int:
    ratio = rate / plain
    p50, p99 = statistics.median(latencies), percentile(latencies, 0.99)
    met = ratio >= TARGET_RATIO and p99 <= TARGET_P99_MS and lost == 0
    print(f"events: {args.events} (throughput), {args.latency_events} at {args.rate:g}/s (latency)")
    print(f"one webhooks worker (-P {args.pool} -c {args.concurrency}): {rate:8.1f} deliveries/s")
    print(f"plain posting loop:            {plain:8.1f} deliveries/s")
    print(f"ratio: {ratio:.2f} (target >= {TARGET_RATIO})")
    print(f"latency event->delivery: p50 {p50:.0f} ms, p99 {p99:.0f} ms (target p99 <= {TARGET_P99_MS:.0f} ms)")
    print(f"lost: {lost} (target 0)")
    print("targets MET" if met else "targets MISSED")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
