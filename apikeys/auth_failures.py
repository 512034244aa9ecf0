"""Failed authentications counted per client address in the shared cache, so guessing keys is throttled."""

from __future__ import annotations

import math
import time

from django.conf import settings
from django.core.cache import cache

from wildcat.errors import AppError, ErrorCode
from wildcat.rates import parse_rate


def _counter_key(address: str, window: int) -> str:
    return f"apikeys:auth-failures:{address}:{window}"


def auth_failure_record(address: str | None) -> AppError | None:
    """Count one failed authentication from ``address``; past the rate, the 429 to answer instead of 401.

    Only failures are counted and refused: a valid key keeps working from an address that others
    behind the same NAT are failing from, and the successful path costs nothing more.
    """
    limit, window_seconds = parse_rate(settings.WILDCAT_AUTH_FAILURE_RATE)
    window = int(time.time() // window_seconds)
    key = _counter_key(address or "unknown", window)
    cache.add(key, 0, window_seconds + 5)
    try:
        failures = cache.incr(key)
    except ValueError:  # expired between add and incr: this failure opens a new count
        cache.add(key, 1, window_seconds + 5)
        failures = 1
    if failures <= limit:
        return None
    retry_after = max(1, math.ceil(window_seconds - (time.time() % window_seconds)))
    message = f"Too many failed authentications from this address; try again in {retry_after} s."
    return AppError(ErrorCode.THROTTLED, message, {"retry_after": retry_after})
