"""The private stack a fault run may break: its own redis-server, its own PostgreSQL cluster, and the
Wildcat processes (gunicorn, a webhooks worker, beat) pointed at them, plus a local webhook receiver.

Nothing shared is ever stopped: the Redis on 6379 and the PostgreSQL cluster on 5432 are left alone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
PG_VERSION, PG_CLUSTER = "15", "wcsec"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition, timeout: float, what: str) -> float:
    """Poll until condition() is truthy; return the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        with contextlib.suppress(Exception):
            if condition():
                return time.monotonic() - started
        time.sleep(0.2)
    raise TimeoutError(f"{what} not ready after {timeout} s")


class Child:
    """A process of ours, in its own process group, logging to a file; stopped by its own pid only."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self._log = log.open("ab")
        self.process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._log.close()


class Supervised:
    """Restarts its process whenever it exits, like ``restart: unless-stopped`` in docker-compose."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.argv, self.env, self.log = argv, env, log
        self.restarts = 0
        self.child = Child(argv, env, log)
        self._stopping = threading.Event()
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        while not self._stopping.wait(1.0):
            if self.child.process.poll() is not None and not self._stopping.is_set():
                self.restarts += 1
                self.child = Child(self.argv, self.env, self.log)

    def stop(self) -> None:
        self._stopping.set()
        self.child.stop()


class PrivateRedis:
    """A throw-away redis-server without persistence: a restart loses every key, as a crash would."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_dir = log_dir
        self.child: Child | None = None

    def start(self) -> None:
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.child = Child(argv, dict(os.environ), self.log_dir / "redis.log")
        wait_for(lambda: _redis_ping(self.port), 20, "private redis")

    def kill(self) -> None:
        if self.child is not None:
            self.child.stop(signal.SIGKILL)
            self.child = None


def _redis_ping(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(16).startswith(b"+PONG")


class PrivatePostgres:
    """A PostgreSQL cluster of its own (pg_createcluster), so restarting it disturbs nobody else."""

    simulated = False

    def __init__(self, port: int = 5442, database: str = "wildcat_faults") -> None:
        self.port = port
        self.database = database
        self.url = f"postgres://postgres@127.0.0.1:{port}/{database}"

    def ensure(self) -> None:
        listed = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, check=True).stdout
        if not any(line.split()[:2] == [PG_VERSION, PG_CLUSTER] for line in listed.splitlines()):
            create = ["pg_createcluster", PG_VERSION, PG_CLUSTER, "-p", str(self.port), "--", "--auth=trust"]
            subprocess.run(create, check=True, capture_output=True)
        self.start()
        import psycopg

        with psycopg.connect(self.url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            connection.execute(f'CREATE DATABASE "{self.database}"')

    def start(self) -> None:
        subprocess.run(["pg_ctlcluster", PG_VERSION, PG_CLUSTER, "start"], check=False, capture_output=True)
        wait_for(self._accepts, 30, "private postgres")

    def stop(self) -> None:
        subprocess.run(["pg_ctlcluster", PG_VERSION, PG_CLUSTER, "stop", "-m", "fast"], check=True, capture_output=True)

    def _accepts(self) -> bool:
        import psycopg

        with psycopg.connect(self.url.rsplit("/", 1)[0] + "/postgres", connect_timeout=2):
            return True


class SharedPostgresSimulation:
    """Where no private cluster can be made (no pg_createcluster, not root): a database of its own on the
    shared server, and an "outage" that only terminates that database's connections, again and again,
    until it is over. This simulates a restart (every connection dies); it does not stop the server."""

    simulated = True

    def __init__(self, admin_url: str = "postgres://postgres@127.0.0.1:5432/postgres") -> None:
        self.admin_url = admin_url
        self.url = admin_url.rsplit("/", 1)[0] + "/wildcat_faults"
        self._outage = threading.Event()

    def ensure(self) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as connection:
            connection.execute("DROP DATABASE IF EXISTS wildcat_faults WITH (FORCE)")
            connection.execute("CREATE DATABASE wildcat_faults")

    def stop(self) -> None:
        self._outage.set()
        threading.Thread(target=self._terminate_while_down, daemon=True).start()

    def start(self) -> None:
        self._outage.clear()

    def _terminate_while_down(self) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as connection:
            while self._outage.is_set():
                connection.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = 'wildcat_faults' AND pid <> pg_backend_pid()"
                )
                time.sleep(0.05)


class Receiver:
    """Counts the webhook-ids that arrive (2xx to every request)."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        seen, lock = self.seen, threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return None

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    seen.add(self.headers.get("webhook-id", ""))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


class App:
    """gunicorn plus a webhooks worker and beat, with short sweeper timers so lost wake-ups recover fast."""

    def __init__(self, database_url: str, redis_url: str, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.env = dict(os.environ)
        self.env.update(
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            DJANGO_SETTINGS_MODULE="wildcat.settings",
            WILDCAT_DEBUG="false",
            WILDCAT_SECRET_KEY="faults-only-secret-key-0123456789abcdefghijklmnop",
            WILDCAT_DATA_DIR=str(log_dir / "data"),
            WILDCAT_ALLOWED_HOSTS="127.0.0.1",
            WILDCAT_LOG_LEVEL="WARNING",
            WILDCAT_WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8",
            WILDCAT_WEBHOOK_SWEEP_SECONDS="2",
            WILDCAT_WEBHOOK_REDISPATCH_SECONDS="8",
            WILDCAT_WEBHOOK_CLAIM_SECONDS="15",
            WILDCAT_WEBHOOK_RETRY_SCALE="0.2",
            WILDCAT_API_KEY_CACHE_SECONDS="30",
            PROMETHEUS_MULTIPROC_DIR=str(log_dir / "data" / "metrics"),
        )
        (log_dir / "data" / "metrics").mkdir(parents=True, exist_ok=True)
        self.children: list[Child | Supervised] = []
        self.supervised: dict[str, Supervised] = {}

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [PYTHON, "manage.py", *args], cwd=ROOT, env=self.env, check=True, capture_output=True, text=True
        )
        return done.stdout.strip()

    def start_web(self, *, rate: str, workers: int = 3) -> str:
        port = free_port()
        env = {**self.env, "WILDCAT_API_RATE": rate}
        argv = [PYTHON, "-m", "gunicorn", "wildcat.wsgi:application", "--bind", f"127.0.0.1:{port}",
                "--workers", str(workers), "--timeout", "60", "--log-level", "warning"]  # fmt: skip
        self.children.append(Child(argv, env, self.log_dir / f"web-{port}.log"))
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: urllib.request.urlopen(url + "/healthz", timeout=2).status == 200, 60, "gunicorn")
        return url

    def start_workers(self) -> None:
        celery = [PYTHON, "-m", "celery", "-A", "wildcat"]
        worker = [*celery, "worker", "-n", "faults@%h", "-Q", "webhooks,default", "-P", "threads", "-c", "8",
                  "--without-gossip", "--without-mingle", "-l", "WARNING"]  # fmt: skip
        beat = [*celery, "beat", "-l", "WARNING", "-s", str(self.log_dir / "beat-schedule")]
        self.supervised["worker"] = Supervised(worker, self.env, self.log_dir / "worker.log")
        self.supervised["beat"] = Supervised(beat, self.env, self.log_dir / "beat.log")
        self.children.extend(self.supervised.values())

    def start_sessions_worker(self) -> None:
        """A `sessions` worker (thread pool) that supervises session hosts, restarted whenever it exits."""
        argv = [PYTHON, "-m", "celery", "-A", "wildcat", "worker", "-n", "sessions@%h", "-Q", "sessions",
                "-P", "threads", "-c", "4", "--without-gossip", "--without-mingle", "-l", "WARNING"]  # fmt: skip
        self.supervised["sessions"] = Supervised(argv, self.env, self.log_dir / "sessions.log")
        self.children.append(self.supervised["sessions"])

    def restarts(self) -> dict[str, int]:
        return {name: process.restarts for name, process in self.supervised.items()}

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop()
        self.children.clear()
