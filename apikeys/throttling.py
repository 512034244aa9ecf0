"""Per-key rate limiting through the shared cache, answering 429 with Retry-After."""

from __future__ import annotations

import ipaddress
import math
import time
from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from apikeys import usage
from apikeys.models import ApiKey
from wildcat.rates import parse_rate


class ApiKeyRateThrottle(BaseThrottle):
    """Fixed-window counter per key; also the place where each request's usage is counted."""

    def __init__(self) -> None:
        self._wait: float | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        api_key = request.auth
        if not isinstance(api_key, ApiKey):
            return True
        limit, window_seconds = parse_rate(settings.WILDCAT_API_RATE)
        # With Redis, authentication already counted this request in its one round trip.
        counted = getattr(api_key, "counted", None) or usage.count_request(api_key.pk, window_seconds)
        # Views such as /me read the pending count from here instead of asking Redis again.
        api_key.pending_usage = counted.pending
        if counted.first_this_interval:
            usage.record_last_use(api_key, _client_ip(request))
        if counted.in_window > limit:
            # Whole seconds, rounded up: "Retry-After: 0" would invite an immediate retry.
            self._wait = float(max(1, math.ceil(window_seconds - (time.time() % window_seconds))))
            return False
        return True

    def wait(self) -> float | None:
        return self._wait


def _client_ip(request: Request) -> str | None:
    """The peer address only: X-Forwarded-For is caller-controlled and may hold anything."""
    raw = request.META.get("REMOTE_ADDR") or ""
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        return None
