"""Real Celery worker and beat processes for integration tests, pointed at the test database."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from django.conf import settings
from django.db import connection

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CHILD_APPLICATION_NAME = "wildcat-test-child"


def database_url_under_test() -> str:
    """A DATABASE_URL for child processes that reaches the database the test run is using."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


def child_env(**overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="wildcat.settings",
        DATABASE_URL=database_url_under_test(),
        # The broker the test process itself publishes to; tests that need Redis export REDIS_URL.
        REDIS_URL=os.environ.get("REDIS_URL", ""),
        WILDCAT_DATA_DIR=str(settings.DATA_DIR),
        WILDCAT_SECRET_KEY=settings.SECRET_KEY or "x" * 50,
        PYTHONUNBUFFERED="1",
        # Tags the children's PostgreSQL sessions, so a test can wait for exactly those to end.
        PGAPPNAME=CHILD_APPLICATION_NAME,
    )
    env.update(overrides)
    return {key: value for key, value in env.items() if value is not None}


class ChildProcess:
    """A started process with its log file; stop() terminates it, kill() sends SIGKILL."""

    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.argv = argv
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            argv, cwd=PROJECT_ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """kill -9 the whole process group, children included."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def kill_leader_only(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, timeout: float = 15) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self._log.close()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_worker(
    name: str, queues: str, log_dir: Path, *, pool: str | None = "threads", concurrency: int = 4, **env: str
) -> ChildProcess:
    """A worker on `queues`; pool=None starts it the way an operator usually would, without -P."""
    pool_options = ["-P", pool] if pool else []
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "wildcat",
        "worker",
        "-n",
        f"{name}@%h",
        "-Q",
        queues,
        *pool_options,
        "-c",
        str(concurrency),
        "--without-gossip",
        "--without-mingle",
        "-l",
        "INFO",
    ]
    return ChildProcess(argv, child_env(**env), log_dir / f"{name}.log")


def start_beat(log_dir: Path, **env: str) -> ChildProcess:
    schedule = log_dir / "celerybeat-schedule"
    argv = [sys.executable, "-m", "celery", "-A", "wildcat", "beat", "-l", "INFO", "-s", str(schedule)]
    return ChildProcess(argv, child_env(**env), log_dir / "beat.log")


def wait_until(
    condition: Callable[[], object], *, timeout: float = 30, interval: float = 0.2, message: str = ""
) -> object:
    """Poll until condition() is truthy; fail with the message when time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for: {message or condition}")


@contextlib.contextmanager
def running(*children: ChildProcess) -> Iterator[tuple[ChildProcess, ...]]:
    try:
        yield children
    finally:
        for child in children:
            child.stop()


def wait_for_child_sessions_to_end() -> None:
    """PostgreSQL ends a stopped child's backends a moment later; the test database is dropped only then."""
    if connection.vendor != "postgresql":
        return

    def alone() -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s",
                [CHILD_APPLICATION_NAME],
            )
            return cursor.fetchone()[0] == 0

    wait_until(alone, timeout=20, interval=0.2, message="the child processes' database sessions to end")
