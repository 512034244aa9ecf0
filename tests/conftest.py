"""Shared fixtures: real Redis, API clients authenticated by real keys, and log folders."""

from __future__ import annotations

from pathlib import Path

import pytest
from rest_framework.test import APIClient

from tests.support.services import missing_service, redis_available, test_redis_url


@pytest.fixture(autouse=True)
def _isolated_cache(settings, tmp_path: Path):
    """Each test gets its own file cache unless it asks for Redis."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(tmp_path / "cache"),
        }
    }
    settings.REDIS_URL = ""
    from wildcat.redis_client import _client_for

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
def redis_url(settings) -> str:
    """Point the cache, throttles and wake-ups at a real, empty Redis database."""
    url = test_redis_url()
    if not redis_available(url):
        missing_service(f"Redis is not reachable at {url}")
    import redis

    redis.Redis.from_url(url).flushdb()
    settings.REDIS_URL = url
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url, "KEY_PREFIX": "wildcat"}
    }
    return url


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
