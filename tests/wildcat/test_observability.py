"""Prometheus metrics, JSON logs with the request id, and no API key ever written to a log."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.apikeys.factories import ApiKeyFactory, RevokedApiKeyFactory
from wildcat.observability import JsonFormatter, RequestContextFilter

pytestmark = pytest.mark.django_db


def _sample(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in text.splitlines():
        match = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
        if match and ",".join(sorted(match.group(1).split(","))) == wanted:
            return float(match.group(2))
    return 0.0


def test_metrics_count_requests_latency_and_tasks():
    from apikeys.tasks import usage_flush_task

    client = Client()
    before = client.get("/metrics").content.decode()
    client.get("/healthz")
    client.get("/healthz")
    usage_flush_task.apply()
    after = client.get("/metrics")
    assert after["Content-Type"].startswith("text/plain")
    text = after.content.decode()
    labels = {"method": "GET", "route": "healthz", "status": "200"}
    assert (
        _sample(text, "wildcat_http_requests_total", **labels)
        - _sample(before, "wildcat_http_requests_total", **labels)
        == 2
    )
    assert _sample(text, "wildcat_http_request_duration_seconds_count", method="GET", route="healthz") >= 2
    task = {"task": "apikeys.tasks.usage_flush_task", "outcome": "success"}
    assert (
        _sample(text, "wildcat_celery_tasks_total", **task) - _sample(before, "wildcat_celery_tasks_total", **task) == 1
    )


def test_unmatched_routes_share_one_label_so_scanners_cannot_explode_the_metrics():
    client = Client()
    for index in range(3):
        client.get(f"/scan-{index}")
    text = client.get("/metrics").content.decode()
    assert "scan-" not in text
    assert _sample(text, "wildcat_http_requests_total", method="GET", route="unmatched", status="404") >= 3


@pytest.fixture
def json_log() -> io.StringIO:
    """Everything any logger writes during the test, formatted as production formats it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestContextFilter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


def test_log_lines_are_json_with_the_request_id(json_log):
    response = APIClient().get("/api/v1/me", HTTP_X_REQUEST_ID="req-abc.123")
    assert response["X-Request-ID"] == "req-abc.123"
    lines = [json.loads(line) for line in json_log.getvalue().splitlines() if line.strip()]
    unauthorized = [line for line in lines if line["logger"] == "django.request"]
    assert unauthorized, lines
    assert unauthorized[0]["request_id"] == "req-abc.123"
    assert unauthorized[0]["level"] == "WARNING" and "time" in unauthorized[0]


def test_a_hostile_request_id_is_replaced():
    response = Client().get("/healthz", HTTP_X_REQUEST_ID="bad id\nwith newline")
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


def test_api_keys_never_reach_the_logs(json_log, settings):
    settings.WILDCAT_API_RATE = "1/hour"
    good, revoked = ApiKeyFactory(), RevokedApiKeyFactory()
    typo = good.secret[:-1] + ("x" if good.secret[-1] != "x" else "y")
    for secret in (good.secret, good.secret, revoked.secret, typo):  # 200, 429, 401, 401
        APIClient().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {secret}")
        APIClient().get("/api/v1/nowhere", HTTP_X_API_KEY=secret)
    # A careless log call that includes a key, in the message, in extra fields and in a traceback.
    logger = logging.getLogger("wildcat.test")
    logger.warning("caller sent %s", good.secret, extra={"header": f"Bearer {good.secret}"})
    try:
        raise ValueError(f"bad key {revoked.secret}")
    except ValueError:
        logger.exception("failed")
    output = json_log.getvalue()
    assert "429" in output or "Too Many Requests" in output  # the requests were logged at all
    for secret in (good.secret, revoked.secret, typo):
        assert secret not in output
        assert secret[len("wc_live_") :] not in output
    assert "wc_[redacted]" in output
