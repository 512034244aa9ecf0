"""``python -m bench.messaging``: gunicorn, a real sessions worker, Redis, PostgreSQL and the sandbox.

1. Accept throughput: wrk alternates ``POST /connections/{id}/messages`` (text) and ``GET /api/v1/me``
   in one run and prints both rates and their ratio (target >= 0.5), and per round what a request
   cost in CPU: gunicorn's workers, PostgreSQL, Redis, the machine busy and idle. The sessions worker is stopped
   during this part, so the numbers are the web tier's alone (the connections are linked, so sends
   are accepted and queued).
2. End to end: 100 sandbox connections, 10,000 text messages posted by a loopback load generator,
   timed from the first POST until every message is ``sent``; prints messages/s, p50/p99
   accept→sent latency, and lost and duplicated counts (targets: >= 200 msg/s, 0 lost, 0 duplicated).
Pacing is off (WILDCAT_SEND_RATE_PER_MINUTE=0).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.api_auth.__main__ import (
    ensure_database,
    ensure_wrk,
    free_port,
    process_cpu_seconds,
    wait_ready,
    workers_cpu_seconds,
)

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
TARGET_RATIO, TARGET_RATE = 0.5, 200.0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.messaging", description=__doc__)
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk round (default 8)")
    parser.add_argument("--rounds", type=int, default=3, help="wrk rounds per endpoint, alternating (default 3)")
    parser.add_argument("--wrk-connections", type=int, default=16)
    parser.add_argument("--web-workers", type=int, default=4, help="gunicorn worker processes (default 4)")
    parser.add_argument("--web-threads", type=int, default=4, help="threads per gunicorn worker; 1 = sync (default 4)")
    parser.add_argument("--connections", type=int, default=100, help="sandbox connections (default 100)")
    parser.add_argument("--messages", type=int, default=10_000, help="messages end to end (default 10000)")
    parser.add_argument("--clients", type=int, default=16, help="load generator threads (default 16)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("WILDCAT_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/wildcat_bench_msg"),
    )
    parser.add_argument("--redis-url", default=os.environ.get("WILDCAT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"))
    return parser.parse_args(argv)


def configure(args: argparse.Namespace, data_dir: Path) -> dict[str, str]:
    env = {
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "WILDCAT_DEBUG": "false",
        "WILDCAT_SECRET_KEY": "bench-only-secret-key-0123456789abcdefghijklmnop",
        "WILDCAT_DATA_DIR": str(data_dir),
        "WILDCAT_MEDIA_ROOT": str(data_dir / "media"),
        "WILDCAT_API_RATE": "100000000/min",
        "WILDCAT_LOG_LEVEL": "WARNING",
        "WILDCAT_ALLOWED_HOSTS": "127.0.0.1",
        "WILDCAT_SEND_RATE_PER_MINUTE": "0",
        "WILDCAT_MAX_CONNECTIONS_PER_KEY": str(max(args.connections, 50)),
        "WILDCAT_SANDBOX_SESSIONS_PER_HOST": "1000",
        "WILDCAT_MAX_SESSIONS_PER_WORKER": "1000",
        "WILDCAT_SANDBOX_CONNECT_SECONDS": "0.1",
        "WILDCAT_RECONCILE_SECONDS": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(data_dir / "metrics"),
        "DJANGO_SETTINGS_MODULE": "wildcat.settings",
        "PYTHONUNBUFFERED": "1",
    }
    (data_dir / "metrics").mkdir(parents=True, exist_ok=True)
    os.environ.update(env)
    return dict(os.environ)


def start_child(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("ab") as sink:
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)


def start_gunicorn(env: dict[str, str], port: int, args: argparse.Namespace, log: Path) -> subprocess.Popen:
    """gunicorn like scripts/run.sh: threaded workers, so a request waiting on a commit frees the CPU."""
    worker_class = ["--worker-class", "gthread", "--threads", str(args.web_threads)] if args.web_threads > 1 else []
    argv = [PYTHON, "-m", "gunicorn", "wildcat.wsgi:application", "--bind", f"127.0.0.1:{port}",
            "--workers", str(args.web_workers), *worker_class,
            "--keep-alive", "5", "--log-level", "warning"]  # fmt: skip
    return start_child(argv, env, log)


def start_sessions_worker(env: dict[str, str], data_dir: Path, name: str) -> subprocess.Popen:
    argv = [PYTHON, "-m", "celery", "-A", "wildcat", "worker", "-n", f"{name}@%h", "-Q", "sessions",
            "-P", "threads", "-c", "4", "--without-gossip", "--without-mingle", "-l", "WARNING"]  # fmt: skip
    return start_child(argv, env, data_dir / f"{name}.log")


def stop(process: subprocess.Popen, timeout: float = 30) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    except ProcessLookupError:
        pass


def wait_for(condition, *, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")


def forget_earlier_runs() -> None:
    """The benchmark database is the benchmark's own: earlier runs' sessions must not compete."""
    from accounts.models import WaConnection
    from apikeys.models import ApiKey

    WaConnection.objects.all().delete()
    ApiKey.objects.filter(label__startswith="bench-messaging-").delete()


def show_logs(data_dir: Path) -> None:
    for log in sorted(data_dir.glob("*.log")):
        lines = log.read_text(errors="replace").splitlines()
        print(f"--- last lines of {log.name}")
        print("\n".join(line[:300] for line in lines[-15:]))


def link_connections(api_key_id: int, count: int) -> list[int]:
    """Create sandbox connections, start them, scan each QR and wait until all are ready."""
    from accounts.models import SessionCommand, WaConnection
    from accounts.services import connection_create, connection_start
    from accounts.session_commands import session_command_create

    stamp = int(time.time())
    connections = [connection_create(api_key_id=api_key_id, name=f"bench-{stamp}-{i}") for i in range(count)]
    for connection in connections:
        connection_start(connection=connection)
    ids = [c.pk for c in connections]
    rows = WaConnection.objects.filter(pk__in=ids)
    wait_for(lambda: rows.filter(status="pending").count() == count, timeout=180, what="QR codes")
    for connection in connections:
        session_command_create(connection=connection, kind=SessionCommand.Kind.CALL, payload={"op": "scan", "args": {}})
    wait_for(lambda: rows.filter(status="ready").count() == count, timeout=180, what="all connections ready")
    return ids


def machine_cpu_seconds() -> dict[str, float]:
    """CPU seconds so far of PostgreSQL's and Redis's processes, and of the whole machine busy and idle."""
    totals = {"postgres": 0.0, "redis": 0.0}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name = (entry / "comm").read_text().strip()
            group = "postgres" if name.startswith("postgres") else "redis" if name.startswith("redis-server") else None
            if group:
                totals[group] += process_cpu_seconds(entry.name)
        except OSError:  # the process ended meanwhile
            continue
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = cpu[3] + cpu[4]  # idle + iowait
    return {**totals, "busy": (sum(cpu) - idle) / ticks, "idle": idle / ticks}


def accept_throughput(args, wrk: str, base: str, key: str, connection_id: int, data_dir: Path, web_pid: int) -> float:
    script = data_dir / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.body = \'{"to": "+4915123456789", "text": "accept benchmark"}\'\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    auth = ["-H", f"Authorization: Bearer {key}"]
    send = ([*auth, "-s", str(script)], f"{base}/api/v1/connections/{connection_id}/messages")
    me = (auth, base + "/api/v1/me")
    run_wrk(wrk, args, 2, *send)
    run_wrk(wrk, args, 2, *me)
    rates: dict[str, list[float]] = {"send": [], "me": [], "send_cpu": [], "me_cpu": []}
    for round_number in range(1, args.rounds + 1):
        splits = {}
        for name, (extra, url) in (("send", send), ("me", me)):
            before, machine_before = workers_cpu_seconds(web_pid), machine_cpu_seconds()
            rate, requests = run_wrk(wrk, args, args.duration, extra, url)
            machine = machine_cpu_seconds()
            rates[name].append(rate)
            rates[f"{name}_cpu"].append((workers_cpu_seconds(web_pid) - before) * 1000 / max(requests, 1))
            splits[name] = {k: (machine[k] - machine_before[k]) * 1000 / max(requests, 1) for k in machine}
        print(
            f"  round {round_number}: POST messages {rates['send'][-1]:7.1f} req/s ({rates['send_cpu'][-1]:.2f} ms CPU)"
            f"   GET /api/v1/me {rates['me'][-1]:7.1f} req/s ({rates['me_cpu'][-1]:.2f} ms CPU)"
        )
        for name, split in splits.items():
            print(f"    {name:4} per request: " + ", ".join(f"{k} {v:.2f} ms" for k, v in split.items()))
    send_rate, me_rate = statistics.median(rates["send"]), statistics.median(rates["me"])
    send_cpu, me_cpu = statistics.median(rates["send_cpu"]), statistics.median(rates["me_cpu"])
    ratio = send_rate / me_rate
    print(f"accept: POST /connections/{{id}}/messages {send_rate:.1f} req/s ({send_cpu:.2f} ms web CPU each), "
          f"GET /api/v1/me {me_rate:.1f} req/s ({me_cpu:.2f} ms) (medians)")  # fmt: skip
    print(f"web CPU ratio (me/send): {me_cpu / send_cpu:.2f}")
    print(f"accept ratio: {ratio:.2f} (target >= {TARGET_RATIO}) {'MET' if ratio >= TARGET_RATIO else 'MISSED'}")
    return ratio


def run_wrk(wrk: str, args, duration: int, extra: list[str], url: str) -> tuple[float, int]:
    """Requests/s and the number of requests wrk completed."""
    import re

    argv = [wrk, "-t2", f"-c{args.wrk_connections}", f"-d{duration}s", *extra, url]
    output = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    if "Non-2xx or 3xx responses" in output:
        raise RuntimeError(f"wrk saw error responses from {url}:\n{output}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    return rate, int(re.search(r"(\d+) requests in", output).group(1))


def end_to_end(args, port: int, key: str, connection_ids: list[int]) -> bool:
    from accounts.models import SandboxDelivery
    from bench.messaging.load import post_messages
    from messaging.models import Message

    jobs = [(connection_ids[i % len(connection_ids)], f"e2e-{i}") for i in range(args.messages)]
    load = post_messages(port, key, jobs, threads=args.clients)
    accepted = Message.objects.filter(pk__in=load.accepted)
    print(f"posted {len(jobs)} in {load.last_accept - load.first_post:.1f}s: {len(load.accepted)} accepted, "
          f"{len(load.errors)} refused {load.errors[:3]}")  # fmt: skip
    try:
        wait_for(lambda: not accepted.filter(sent_at__isnull=True).exists(), timeout=600, what="all sent", interval=0.5)
    except RuntimeError as exc:
        print(f"  {exc}")
    rows = list(accepted.values_list("created_at", "sent_at", "wa_message_id"))
    sent = [(c, s) for c, s, _ in rows if s is not None]
    last_sent = max(s for _, s in sent).timestamp() if sent else time.time()
    rate = len(sent) / max(last_sent - load.first_post, 1e-6)
    latencies = sorted((s - c).total_seconds() for c, s in sent)
    wa_ids = {w for _, _, w in rows}
    deliveries = list(
        SandboxDelivery.objects.filter(connection_id__in=connection_ids, wa_message_id__in=wa_ids).values_list(
            "wa_message_id", flat=True
        )
    )
    lost = len(jobs) - len(set(deliveries))
    duplicated = len(deliveries) - len(set(deliveries))
    p50 = latencies[len(latencies) // 2] if latencies else float("nan")
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else float("nan")
    print(f"end to end: {len(sent)} messages over {len(connection_ids)} connections, {rate:.1f} msg/s "
          f"(target >= {TARGET_RATE:.0f}) {'MET' if rate >= TARGET_RATE else 'MISSED'}")  # fmt: skip
    print(f"accept→sent latency: p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms")
    print(
        f"lost: {lost}, duplicated: {duplicated} (target 0 and 0) {'MET' if not lost and not duplicated else 'MISSED'}"
    )
    return rate >= TARGET_RATE and not lost and not duplicated


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)
    wrk = ensure_wrk()
    ensure_database(args.database_url)
    with tempfile.TemporaryDirectory(prefix="wildcat-bench-msg-") as folder:
        data_dir = Path(folder)
        env = configure(args, data_dir)
        import django

        django.setup()
        from django.core.management import call_command

        from apikeys.services import apikey_create

        call_command("migrate", "--noinput", verbosity=0)
        forget_earlier_runs()
        api_key, key = apikey_create(label=f"bench-messaging-{int(time.time() * 1000)}")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        web = start_gunicorn(env, port, args, data_dir / "gunicorn.log")
        beat = start_child([PYTHON, "-m", "celery", "-A", "wildcat", "beat", "-l", "WARNING",
                            "-s", str(data_dir / "beat-schedule")], env, data_dir / "beat.log")  # fmt: skip
        worker = start_sessions_worker(env, data_dir, "bench-sessions-1")
        try:
            wait_ready(base, key)
            started = time.monotonic()
            ids = link_connections(api_key.pk, args.connections)
            print(f"{args.connections} sandbox connections ready in {time.monotonic() - started:.1f}s")
            stop(worker)
            print(
                f"gunicorn: {args.web_workers} workers x {args.web_threads} threads; "
                f"wrk: 2 threads, {args.wrk_connections} connections"
            )
            ratio = accept_throughput(args, wrk, base, key, ids[0], data_dir, web.pid)
            from messaging.models import Message

            Message.objects.filter(api_key_id=api_key.pk).delete()  # the accept run's queue is not part 2
            worker = start_sessions_worker(env, data_dir, "bench-sessions-2")
            from accounts.models import WaConnection

            rows = WaConnection.objects.filter(pk__in=ids)
            wait_for(lambda: rows.filter(status="ready").count() == len(ids), timeout=180, what="sessions resumed")
            ok = end_to_end(args, port, key, ids)
        except Exception:
            show_logs(data_dir)
            raise
        finally:
            for process in (worker, beat, web):
                stop(process)
    return 0 if ok and ratio >= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
