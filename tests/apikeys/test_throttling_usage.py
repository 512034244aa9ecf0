"""Per-key throttling in real Redis, and usage counting without a write per request."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apikeys.models import ApiKey
from apikeys.tasks import usage_flush_task
from tests.apikeys.factories import ApiKeyFactory
from wildcat.rates import parse_rate

pytestmark = pytest.mark.django_db
ME = "/api/v1/me"


def _client(api_key: ApiKey, **extra: str) -> APIClient:
    client = APIClient(**extra)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.secret}")
    return client


@pytest.mark.redis
def test_throttle_answers_429_with_retry_after_per_key(redis_url, settings):
    settings.WILDCAT_API_RATE = "3/hour"
    first, second = ApiKeyFactory(), ApiKeyFactory()
    client = _client(first)
    assert [client.get(ME).status_code for _ in range(3)] == [200, 200, 200]
    throttled = client.get(ME)
    assert throttled.status_code == 429
    retry_after = int(throttled["Retry-After"])
    assert 1 <= retry_after <= 3600
    assert throttled.json()["error"]["code"] == "throttled"
    assert throttled.json()["error"]["details"] == {"retry_after": retry_after}
    # The counter lives in Redis, not in this process: another key is untouched.
    assert _client(second).get(ME).status_code == 200
    import redis

    keys_in_redis = redis.Redis.from_url(redis_url).keys("wildcat:apikeys:throttle:*")
    assert len(keys_in_redis) == 2


@pytest.mark.redis
def test_throttle_window_reopens(redis_url, settings, time_machine):
    settings.WILDCAT_API_RATE = "2/second"
    client = _client(ApiKeyFactory())
    # Time stands still inside one window, so no request can straddle a window boundary.
    time_machine.move_to(datetime(2031, 5, 1, 12, 0, 0, 100_000, tzinfo=UTC), tick=False)
    assert [client.get(ME).status_code for _ in range(3)] == [200, 200, 429]
    time_machine.shift(1)
    assert client.get(ME).status_code == 200


@pytest.mark.parametrize(
    ("rate", "expected"), [("1200/min", (1200, 60)), ("5/s", (5, 1)), ("10 / hour", (10, 3600)), ("1/day", (1, 86400))]
)
def test_parse_rate(rate, expected):
    assert parse_rate(rate) == expected


@pytest.mark.parametrize("rate", ["", "fast", "0/min", "10/fortnight", "-1/s", "1.5/min"])
def test_parse_rate_refuses_nonsense(rate):
    with pytest.raises(ValueError):
        parse_rate(rate)


@pytest.mark.redis
def test_usage_is_counted_in_redis_and_flushed_to_the_database(redis_url, django_assert_max_num_queries):
    api_key = ApiKeyFactory()
    client = _client(api_key)
    for expected in range(1, 5):
        assert client.get(ME).json()["usage"]["count"] == expected
    api_key.refresh_from_db()
    assert api_key.usage_count == 0  # nothing written per request
    assert usage_flush_task.apply().get() == 4
    api_key.refresh_from_db()
    assert api_key.usage_count == 4
    assert usage_flush_task.apply().get() == 0  # idempotent: nothing pending, nothing added
    assert client.get(ME).json()["usage"]["count"] == 5
    # Steady state: /me costs no query at all (record and counters come from one Redis call).
    with django_assert_max_num_queries(0):
        assert client.get(ME).status_code == 200


@pytest.mark.embedded_only
def test_usage_counting_works_on_the_embedded_file_cache():
    api_key = ApiKeyFactory()
    client = _client(api_key)
    for _ in range(3):
        client.get(ME)
    assert client.get(ME).json()["usage"]["count"] == 4
    assert usage_flush_task.apply().get() == 4
    api_key.refresh_from_db()
    assert api_key.usage_count == 4
    assert client.get(ME).json()["usage"]["count"] == 5


@pytest.mark.redis
def test_last_used_at_is_written_at_most_once_per_interval(redis_url, settings):
    settings.WILDCAT_API_LAST_USED_SECONDS = 2
    api_key = ApiKeyFactory()
    client = _client(api_key, REMOTE_ADDR="203.0.113.7")
    started = time.monotonic()  # the interval starts with the next request, not before this line
    client.get(ME)
    api_key.refresh_from_db()
    assert api_key.last_used_at is not None
    assert api_key.last_used_ip == "203.0.113.7"
    sentinel = timezone.now() - timedelta(days=1)
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=sentinel)

    def written_again() -> bool:
        client.get(ME)
        return ApiKey.objects.get(pk=api_key.pk).last_used_at != sentinel

    requests_within = 0
    while not written_again():
        requests_within += 1
        assert time.monotonic() - started < 30, "last_used_at was never written again"
        time.sleep(0.05)
    # Many requests inside the interval wrote nothing; the first write came only once it had passed.
    assert time.monotonic() - started >= 2
    assert requests_within >= 5
    assert ApiKey.objects.get(pk=api_key.pk).last_used_at > sentinel


@pytest.mark.redis
def test_forwarded_for_header_cannot_break_the_last_use_write(redis_url):
    api_key = ApiKeyFactory()
    response = _client(api_key).get(ME, HTTP_X_FORWARDED_FOR="not-an-ip, <script>")
    assert response.status_code == 200
    api_key.refresh_from_db()
    assert api_key.last_used_ip == "127.0.0.1"
