"""Per-connection send pacing (anti-ban): a steady rate with jitter, remembered in the owning process.

Only the session's owner sends for a connection, so the schedule lives in that process. A new owner
seeds it from the last ``sent_at`` in the database, so an owner change does not cause a burst.
"""

from __future__ import annotations

import random
import threading
import time

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from accounts.models import WaConnection
from messaging.models import Message

RATE_CACHE_SECONDS = 5.0
_lock = threading.Lock()
_next_due: dict[int, float] = {}
_rates: dict[int, tuple[float, int]] = {}


def pacing_reset() -> None:
    """Forget every schedule and cached rate (tests; a process that lost its sessions)."""
    with _lock:
        _next_due.clear()
        _rates.clear()


def send_rate(connection_id: int) -> int:
    """Messages per minute for this connection; 0 means unpaced."""
    now = time.monotonic()
    cached = _rates.get(connection_id)
    if cached and cached[0] > now:
        return cached[1]
    own = WaConnection.objects.filter(pk=connection_id).values_list("send_rate_per_minute", flat=True).first()
    rate = own if own is not None else settings.WILDCAT_SEND_RATE_PER_MINUTE
    _rates[connection_id] = (now + RATE_CACHE_SECONDS, int(rate or 0))
    return int(rate or 0)


def _interval(rate: int) -> float:
    jitter = max(0.0, min(settings.WILDCAT_SEND_JITTER, 0.9))
    return 60.0 / rate * random.uniform(1 - jitter, 1 + jitter)


def _seed(connection_id: int, rate: int) -> float:
    """When the next send may go, judged from the last one this connection made (any owner)."""
    last = Message.objects.filter(connection_id=connection_id, sent_at__isnull=False).aggregate(at=Max("sent_at"))["at"]
    if last is None:
        return time.monotonic()
    elapsed = (timezone.now() - last).total_seconds()
    return time.monotonic() + max(0.0, 60.0 / rate - elapsed)


def seconds_until_due(connection_id: int) -> float:
    """0 when a send may go now (or pacing is off); otherwise how long to wait."""
    rate = send_rate(connection_id)
    if rate <= 0:
        return 0.0
    with _lock:
        due = _next_due.get(connection_id)
    if due is None:
        due = _seed(connection_id, rate)
        with _lock:
            _next_due.setdefault(connection_id, due)
    return max(0.0, due - time.monotonic())


def record_send(connection_id: int) -> None:
    """A send just went out: schedule the next slot one jittered interval from now."""
    rate = send_rate(connection_id)
    if rate <= 0:
        return
    with _lock:
        _next_due[connection_id] = time.monotonic() + _interval(rate)
