"""Liveness and readiness probes."""

from __future__ import annotations

import time
from datetime import timedelta

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache

from wildcat.models import WorkerNode
from wildcat.worker_heartbeat import HOW_TO_HOST_SESSIONS, session_hosts_alive


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _timed(check) -> dict:
    started = time.perf_counter()
    try:
        detail = check()
        result = {"status": "ok"}
        if detail:
            result["detail"] = detail
    except Exception as exc:  # noqa: BLE001 - a probe reports every failure as "down"
        result = {"status": "down", "error": type(exc).__name__}
    result["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_broker() -> str:
    if settings.REDIS_URL:
        redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1).ping()
        return "redis"
    folder = settings.DATA_DIR / "broker" / "queue"
    if not folder.is_dir():
        raise FileNotFoundError(str(folder))
    return "filesystem"


def _check_workers() -> str:
    cutoff = timezone.now() - timedelta(seconds=settings.WILDCAT_WORKER_FRESH_SECONDS)
    alive = WorkerNode.objects.filter(last_heartbeat__gte=cutoff).count()
    if alive == 0:
        raise LookupError("no live worker")
    return f"{alive} alive"


def _check_session_hosts() -> dict:
    """A warning, not a failure: the API still serves reads and queues sends while no worker hosts sessions."""
    result = _timed(session_hosts_alive)
    hosts = result.pop("detail", 0)
    if result["status"] != "ok":
        return result
    if hosts:
        return {**result, "detail": f"{hosts} can host sessions"}
    return {**result, "status": "warn", "detail": f"no worker can host sessions; {HOW_TO_HOST_SESSIONS}"}


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _timed(_check_database), "broker": _timed(_check_broker), "workers": _timed(_check_workers)}
    checks["sessions"] = _check_session_hosts()
    ready = all(check["status"] != "down" for check in checks.values())
    return JsonResponse({"status": "ready" if ready else "not_ready", "checks": checks}, status=200 if ready else 503)
