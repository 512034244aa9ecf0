"""Shared fixtures: the pass's deployment shape, API clients authenticated by real keys, and log folders.

The SQLite pass runs every test in the embedded shape (file cache, file broker, no Redis); the
PostgreSQL pass runs them in the production shape (Redis for the cache, the broker and wake-ups).
A test about one shape says so (``embedded_only`` / ``production_only``, or asking for ``redis_url``)
and runs in that shape's pass only.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from tests.support.services import missing_service, redis_available, redis_url_under_test
from wildcat.celery import _broker_transport_options
from wildcat.celery import app as celery_app
from wildcat.redis_client import _client_for

EMBEDDED, PRODUCTION = "embedded", "production"


def pass_shape() -> str:
    """The deployment shape of this run, from its database: SQLite runs embedded, PostgreSQL as production."""
    engine = django_settings.DATABASES["default"]["ENGINE"]
    return EMBEDDED if engine.endswith("sqlite3") else PRODUCTION


def _test_shape(item: pytest.Item) -> str | None:
    """The one shape a test is about, if any: its marker, or asking for the Redis fixture."""
    if item.get_closest_marker("production_only") or item.get_closest_marker("redis"):
        return PRODUCTION
    if "redis_url" in getattr(item, "fixturenames", ()):
        return PRODUCTION
    if item.get_closest_marker("embedded_only"):
        return EMBEDDED
    return None


def pytest_configure(config: pytest.Config) -> None:
    """Point this process's Celery producer, and every child process, at the pass's broker."""
    shape = pass_shape()
    redis_url = redis_url_under_test() if shape == PRODUCTION else ""
    os.environ["REDIS_URL"] = redis_url  # child processes (workers, beat, hosts) inherit the shape
    django_settings.REDIS_URL = redis_url
    django_settings.CELERY_BROKER_URL = redis_url or "filesystem://"
    celery_app.conf.broker_url = django_settings.CELERY_BROKER_URL
    celery_app.conf.broker_transport_options = _broker_transport_options()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test about one shape runs in that shape's pass only; every other test runs in both."""
    shape = pass_shape()
    kept, other_shape = [], []
    for item in items:
        (other_shape if _test_shape(item) not in (None, shape) else kept).append(item)
    if other_shape:
        config.hook.pytest_deselected(items=other_shape)
        items[:] = kept


@pytest.fixture(autouse=True)
def _deployment_shape(settings, tmp_path: Path):
    """Embedded pass: a file cache of the test's own and no Redis. Production pass: Redis, emptied first."""
    if pass_shape() == PRODUCTION:
        url = redis_url_under_test()
        if not redis_available(url):
            missing_service(f"Redis is not reachable at {url}")
        redis.Redis.from_url(url).flushdb()
        settings.REDIS_URL = url
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": url,
                "KEY_PREFIX": "wildcat",
                "OPTIONS": {"socket_timeout": 2, "socket_connect_timeout": 2},
            }
        }
    else:
        settings.REDIS_URL = ""
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                "LOCATION": str(tmp_path / "cache"),
            }
        }
    _client_for.cache_clear()
    yield
    _client_for.cache_clear()


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    """Admin pages render without a collectstatic manifest (production uses the manifest storage)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _fresh_send_path_cache():
    """Ids repeat after a rolled-back test: the send path's short connection cache starts empty."""
    from messaging.services import send_connection_cache_clear

    send_connection_cache_clear()
    yield
    send_connection_cache_clear()


@pytest.fixture
def redis_url(_deployment_shape, settings) -> str:
    """The real, emptied Redis that the production pass points the cache, throttles and wake-ups at."""
    assert pass_shape() == PRODUCTION, "tests asking for Redis run in the production pass only"
    return settings.REDIS_URL


@pytest.fixture
def api_key_and_secret(db):
    from apikeys.services import apikey_create

    return apikey_create(label="integrator-a")


@pytest.fixture
def api_key(api_key_and_secret):
    return api_key_and_secret[0]


@pytest.fixture
def api_client(api_key_and_secret) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_and_secret[1]}")
    return client


@pytest.fixture
def other_api_client(db) -> APIClient:
    from apikeys.services import apikey_create

    _, secret = apikey_create(label="integrator-b")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture
def process_logs(tmp_path: Path) -> Path:
    folder = tmp_path / "processes"
    folder.mkdir()
    return folder
