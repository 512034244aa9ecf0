"""Reaching the real services the tests use; under CI a missing service fails instead of skipping."""

from __future__ import annotations

import os

import pytest
import redis


def redis_url_under_test() -> str:
    return os.environ.get("REDIS_URL") or os.environ.get("WILDCAT_TEST_REDIS_URL") or "redis://127.0.0.1:6379/15"


def missing_service(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"required service missing under CI: {reason}")
    pytest.skip(reason)


def redis_available(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.exceptions.RedisError:
        return False
