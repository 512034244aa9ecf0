"""Liveness and readiness: per-check JSON, 503 (never 500) when a dependency is down."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

pytestmark = pytest.mark.django_db


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # released on close: nothing listens there


def _live_worker(seconds_ago: float = 0) -> None:
    from wildcat.models import WorkerNode

    WorkerNode.objects.create(
        name="celery@test",
        hostname="test",
        pid=1,
        queues="default,sessions,webhooks",
        last_heartbeat=timezone.now() - timedelta(seconds=seconds_ago),
    )


def test_healthz_is_alive_without_any_dependency(settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{_closed_port()}/0"
    response = Client().get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.redis
def test_readyz_is_ready_with_database_redis_and_a_live_worker(redis_url):
    _live_worker()
    response = Client().get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ready"
    assert {name: check["status"] for name, check in body["checks"].items()} == {
        "database": "ok",
        "broker": "ok",
        "workers": "ok",
        "sessions": "ok",
    }
    assert body["checks"]["broker"]["detail"] == "redis"
    assert body["checks"]["workers"]["detail"] == "1 alive"
    assert response["Cache-Control"].startswith("max-age=0")


def test_readyz_with_redis_down_is_503_not_500(settings):
    _live_worker()
    settings.REDIS_URL = f"redis://127.0.0.1:{_closed_port()}/0"
    response = Client(raise_request_exception=False).get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not_ready"
    assert body["checks"]["broker"]["status"] == "down"
    assert body["checks"]["broker"]["error"] == "ConnectionError"
    assert body["checks"]["database"]["status"] == "ok"


@pytest.mark.redis
def test_readyz_without_a_fresh_worker_heartbeat_is_not_ready(redis_url, settings):
    settings.WILDCAT_WORKER_FRESH_SECONDS = 30
    _live_worker(seconds_ago=120)
    response = Client().get("/readyz")
    assert response.status_code == 503
    workers = response.json()["checks"]["workers"]
    assert sorted(workers) == ["error", "ms", "status"]
    assert (workers["status"], workers["error"]) == ("down", "LookupError")
    # How long the check took, in milliseconds: a measured number, not a placeholder.
    assert isinstance(workers["ms"], int | float) and 0 <= workers["ms"] < 10_000


@pytest.mark.embedded_only
def test_readyz_on_the_embedded_file_broker(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    (tmp_path / "broker" / "queue").mkdir(parents=True)
    _live_worker()
    response = Client().get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["broker"]["detail"] == "filesystem"
