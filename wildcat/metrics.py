"""Prometheus metrics: HTTP requests and latency, and Celery task outcomes.

Every process (web workers, Celery workers) writes to PROMETHEUS_MULTIPROC_DIR when it is set, and
``/metrics`` aggregates them, so one scrape shows the whole machine.
"""

from __future__ import annotations

import os

from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

HTTP_REQUESTS = Counter("wildcat_http_requests_total", "HTTP requests served", ["method", "route", "status"])
HTTP_LATENCY = Histogram(
    "wildcat_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
CELERY_TASKS = Counter("wildcat_celery_tasks_total", "Celery tasks finished", ["task", "outcome"])


def _route_of(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    return match.route if match is not None and match.route else "unmatched"


def observe_request(request: HttpRequest, status: int, seconds: float) -> None:
    route = _route_of(request)
    HTTP_REQUESTS.labels(request.method, route, str(status)).inc()
    HTTP_LATENCY.labels(request.method, route).observe(seconds)


def observe_task(task_name: str, outcome: str) -> None:
    CELERY_TASKS.labels(task_name, outcome).inc()


def metrics_view(request: HttpRequest) -> HttpResponse:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
