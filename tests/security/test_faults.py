"""Short versions of bench/security: a burst past the throttle, and Redis going away and coming back.

PostgreSQL restarts are covered by ``python -m bench.security`` only (it needs a cluster of its own).
"""

from __future__ import annotations

import shutil
import socket
import subprocess

import pytest
from django.db import transaction

from tests.support.processes import wait_until
from tests.support.services import missing_service

pytestmark = pytest.mark.django_db


def test_a_burst_past_the_throttle_gets_429_with_retry_after_and_no_5xx(redis_url, api_client, settings):
    settings.WILDCAT_API_RATE = "20/min"
    statuses = []
    for _ in range(60):
        response = api_client.get("/api/v1/me")
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert int(response["Retry-After"]) >= 1
            assert response.json()["error"]["code"] == "throttled"
    # 20 per window; a run that straddles a window boundary may see up to 40 accepted.
    assert 20 <= statuses.count(200) <= 40
    assert statuses.count(429) == 60 - statuses.count(200)
    assert not [status for status in statuses if status >= 500]


class PrivateRedis:
    """A redis-server of this test's own, on a free port, so it can be killed without disturbing anyone."""

    def __init__(self, tmp_path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.tmp_path = tmp_path
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(argv, cwd=self.tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self._pings, timeout=20, message="the private redis-server answers")

    def _pings(self) -> bool:
        import redis

        try:
            return bool(redis.Redis.from_url(self.url, socket_connect_timeout=1).ping())
        except redis.exceptions.RedisError:
            return False

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def private_redis(settings, tmp_path):
    if shutil.which("redis-server") is None:
        missing_service("redis-server is not installed")
    server = PrivateRedis(tmp_path)
    server.start()
    from wildcat.redis_client import _client_for

    settings.REDIS_URL = server.url
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": server.url,
            "KEY_PREFIX": "wildcat",
            "OPTIONS": {"socket_timeout": 2, "socket_connect_timeout": 2},
        }
    }
    _client_for.cache_clear()
    yield server
    server.kill()
    _client_for.cache_clear()


def test_redis_restarted_answers_503_then_recovers_by_itself(private_redis, api_client, api_key, settings):
    from webhooks.models import WebhookEndpoint

    settings.WILDCAT_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    assert api_client.get("/api/v1/me").status_code == 200
    private_redis.kill()
    down = api_client.get("/api/v1/me")
    assert down.status_code == 503
    assert down.json()["error"]["code"] == "service_unavailable"
    assert int(down["Retry-After"]) >= 1
    with transaction.atomic():
        refused = api_client.post("/api/v1/webhooks", {"url": "http://127.0.0.1:9/h"}, format="json")
    assert refused.status_code == 503
    assert not WebhookEndpoint.objects.filter(api_key=api_key).exists()  # nothing half-written
    private_redis.start()  # same port, empty, as after a crash (start() returns once it answers PING)
    # Nothing is restarted and nothing waits out a back-off: the very next request reconnects and succeeds.
    assert api_client.get("/api/v1/me").status_code == 200
    created = api_client.post("/api/v1/webhooks", {"url": "http://127.0.0.1:9/h"}, format="json")
    assert created.status_code == 201
