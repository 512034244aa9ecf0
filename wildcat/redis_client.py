"""The shared Redis client, or None when Wildcat runs on its embedded defaults."""

from __future__ import annotations

import functools

import redis
from django.conf import settings


@functools.cache
def _client_for(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2, health_check_interval=30)


def get_redis() -> redis.Redis | None:
    """One connection pool per process and URL; None means "no Redis configured"."""
    if not settings.REDIS_URL:
        return None
    return _client_for(settings.REDIS_URL)
