"""``python -m bench.api_auth``: gunicorn on PostgreSQL + Redis, loaded by wrk over loopback.

Measures requests/s of authenticated ``GET /api/v1/me`` (key lookup, per-key throttle, usage
counting, one row read) and of ``GET /healthz`` (a plain Django view) in one run, alternating the
two so background load hits both alike, and prints the ratio. Target: ratio >= 0.5.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
TARGET_RATIO = 0.5


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.api_auth", description=__doc__)
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk round (default 8)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per endpoint, alternating (default 3)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers (default 4)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("WILDCAT_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/wildcat_bench"),
    )
    parser.add_argument("--redis-url", default=os.environ.get("WILDCAT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"))
    return parser.parse_args(argv)


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk is missing; installing it from apt")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env)
    return shutil.which("wrk") or "/usr/bin/wrk"


def ensure_database(database_url: str) -> None:
    """Create the benchmark's own database on first use (never the test or production one)."""
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def app_env(args: argparse.Namespace, data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=args.database_url,
        REDIS_URL=args.redis_url,
        WILDCAT_DEBUG="false",
        WILDCAT_SECRET_KEY="bench-only-secret-key-0123456789abcdefghijklmnop",
        WILDCAT_DATA_DIR=str(data_dir),
        WILDCAT_API_RATE="100000000/min",  # measure the throttle's cost, never its refusals
        WILDCAT_LOG_LEVEL="WARNING",
        WILDCAT_ALLOWED_HOSTS="127.0.0.1",
        PROMETHEUS_MULTIPROC_DIR=str(data_dir / "metrics"),
        DJANGO_SETTINGS_MODULE="wildcat.settings",
    )
    (data_dir / "metrics").mkdir(parents=True, exist_ok=True)
    return env


def prepare(env: dict[str, str]) -> str:
    """Migrate the benchmark database and return a fresh API key."""
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    label = f"bench-{int(time.time() * 1000)}"
    created = subprocess.run(
        [PYTHON, "manage.py", "createapikey", "--label", label],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return created.stdout.strip()


def start_gunicorn(env: dict[str, str], port: int, workers: int, log: Path) -> subprocess.Popen:
    argv = [
        PYTHON, "-m", "gunicorn", "wildcat.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--worker-class", "sync",
        "--keep-alive", "5", "--log-level", "warning",
    ]  # fmt: skip
    with log.open("ab") as sink:
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)


def wait_ready(url: str, key: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            request = urllib.request.Request(url + "/api/v1/me", headers={"Authorization": f"Bearer {key}"})
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"gunicorn did not answer on {url} within {timeout}s")


def process_cpu_seconds(pid: int | str) -> float:
    """CPU time (user + system) a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def workers_cpu_seconds(master_pid: int) -> float:
    """CPU time (user + system) used so far by gunicorn's worker processes."""
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    return sum(process_cpu_seconds(pid) for pid in children)


def run_wrk(wrk: str, url: str, duration: int, args: argparse.Namespace, headers: list[str]) -> tuple[float, int]:
    """Requests/s and the number of requests wrk completed."""
    argv = [wrk, "-t2", f"-c{args.connections}", f"-d{duration}s"]
    for header in headers:
        argv += ["-H", header]
    output = subprocess.run([*argv, url], check=True, capture_output=True, text=True).stdout
    if "Non-2xx or 3xx responses" in output:
        raise RuntimeError(f"wrk saw error responses from {url}:\n{output}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    return rate, int(re.search(r"(\d+) requests in", output).group(1))


def one_round(wrk: str, url: str, args: argparse.Namespace, headers: list[str], master_pid: int) -> tuple[float, float]:
    """Requests/s, and the web workers' CPU milliseconds per request (steadier on a busy machine)."""
    before = workers_cpu_seconds(master_pid)
    rate, requests = run_wrk(wrk, url, args.duration, args, headers)
    return rate, (workers_cpu_seconds(master_pid) - before) * 1000 / max(requests, 1)


def measure(wrk: str, base: str, key: str, args: argparse.Namespace, master_pid: int) -> dict[str, list[float]]:
    auth_header = [f"Authorization: Bearer {key}"]
    run_wrk(wrk, base + "/healthz", 2, args, [])  # warm-up: imports, connections, cached key
    run_wrk(wrk, base + "/api/v1/me", 2, args, auth_header)
    results: dict[str, list[float]] = {"plain": [], "authed": [], "plain_cpu": [], "authed_cpu": []}
    for round_number in range(1, args.rounds + 1):
        rate, cpu = one_round(wrk, base + "/healthz", args, [], master_pid)
        results["plain"].append(rate)
        results["plain_cpu"].append(cpu)
        rate, cpu = one_round(wrk, base + "/api/v1/me", args, auth_header, master_pid)
        results["authed"].append(rate)
        results["authed_cpu"].append(cpu)
        plain_text = f"/healthz {results['plain'][-1]:8.1f} req/s ({results['plain_cpu'][-1]:.2f} ms CPU)"
        authed_text = f"/api/v1/me {results['authed'][-1]:8.1f} req/s ({results['authed_cpu'][-1]:.2f} ms CPU)"
        print(f"  round {round_number}: {plain_text}   {authed_text}")
    return results


def report(results: dict[str, list[float]]) -> float:
    plain, authed = statistics.median(results["plain"]), statistics.median(results["authed"])
    plain_cpu, authed_cpu = statistics.median(results["plain_cpu"]), statistics.median(results["authed_cpu"])
    ratio = authed / plain
    print(f"plain Django view (/healthz):   {plain:8.1f} req/s, {plain_cpu:.2f} ms web CPU per request (medians)")
    print(f"authenticated GET /api/v1/me:   {authed:8.1f} req/s, {authed_cpu:.2f} ms web CPU per request (medians)")
    print(f"CPU ratio (plain/authenticated): {plain_cpu / authed_cpu:.2f}")
    print(f"ratio: {ratio:.2f} (target >= {TARGET_RATIO}) {'MET' if ratio >= TARGET_RATIO else 'MISSED'}")
    return ratio


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    wrk = ensure_wrk()
    ensure_database(args.database_url)
    with tempfile.TemporaryDirectory(prefix="wildcat-bench-") as tmp:
        env = app_env(args, Path(tmp))
        key = prepare(env)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = start_gunicorn(env, port, args.workers, Path(tmp) / "gunicorn.log")
        try:
            wait_ready(base, key)
            print(f"gunicorn: {args.workers} sync workers on {base}; wrk: 2 threads, {args.connections} connections")
            results = measure(wrk, base, key, args, server.pid)
        finally:
            os.killpg(server.pid, 15)
            server.wait(timeout=30)
    return 0 if report(results) >= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
