"""Every Celery worker writes a WorkerNode heartbeat, so /readyz and the dashboard can see it."""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import timedelta

from celery import bootsteps
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from wildcat.models import WorkerNode

logger = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 10
SESSIONS_QUEUE = "sessions"
HOW_TO_HOST_SESSIONS = "start one with: celery -A wildcat worker -Q sessions (its default pool, threads, can host them)"


def session_hosts_alive() -> int:
    """Live workers that consume the sessions queue; a worker that cannot host sessions never consumes it."""
    cutoff = timezone.now() - timedelta(seconds=settings.WILDCAT_WORKER_FRESH_SECONDS)
    queues = WorkerNode.objects.filter(last_heartbeat__gte=cutoff).values_list("queues", flat=True)
    return sum(1 for names in queues if SESSIONS_QUEUE in names.split(","))


def worker_heartbeat(*, name: str, queues: str, session_count: int | None = None) -> None:
    defaults = {
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
        "queues": queues[:200],
        "last_heartbeat": timezone.now(),
    }
    # The session supervisor keeps session_count current; the plain heartbeat must not reset it.
    if session_count is not None:
        defaults["session_count"] = session_count
    WorkerNode.objects.update_or_create(name=name, defaults=defaults)


class WorkerHeartbeatStep(bootsteps.StartStopStep):
    """Runs in the worker's main process: a daemon thread that beats every few seconds."""

    requires = {"celery.worker.components:Pool"}

    def __init__(self, worker, **kwargs) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._worker = worker

    def start(self, worker) -> None:
        queues = ",".join(sorted(q.name for q in worker.app.amqp.queues.consume_from.values()))
        self._thread = threading.Thread(
            target=self._run, args=(worker.hostname, queues), daemon=True, name="wc-heartbeat"
        )
        self._thread.start()

    def _run(self, name: str, queues: str) -> None:
        while not self._stop.is_set():
            try:
                worker_heartbeat(name=name, queues=queues)
            except Exception:
                logger.warning("worker heartbeat failed", exc_info=True)
            finally:
                close_old_connections()
            self._stop.wait(HEARTBEAT_SECONDS)

    def stop(self, worker) -> None:
        self._stop.set()
