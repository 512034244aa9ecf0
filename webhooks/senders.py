"""The sender threads of a worker process, shared by every drain in it, and each endpoint's fair share of them."""

from __future__ import annotations

import threading
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings

from webhooks.attempts import ClaimedDelivery


@dataclass
class Claimed:
    delivery: ClaimedDelivery
    token: str
    claimed_at: float  # time.monotonic()


class Senders:
    """The process's sender threads, shared by every drain running in it, and which endpoint holds each.

    Threads keep their kept-alive connections between batches. ``lock`` also guards the drains'
    waiting lines, which sender threads take their next delivery from.
    """

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="webhook-send")
        self.lock = threading.Lock()
        self._held: Counter[int] = Counter()

    def take_locked(self, waiting: dict[int, deque[Claimed]]) -> Claimed | None:
        """The delivery that gets the next free thread; None when none is free or all are at their share.

        An endpoint's share is an equal split of the threads among the endpoints with work (alone,
        it may use them all); among those under it, the one holding fewest threads goes first, and
        an endpoint just served goes to the back of the line.
        """
        if not waiting or sum(self._held.values()) >= self.threads:
            return None
        busy = {endpoint_id for endpoint_id, held in self._held.items() if held} | set(waiting)
        share = -(-self.threads // len(busy))  # rounded up: no thread left idle while work waits
        under = [endpoint_id for endpoint_id in waiting if self._held[endpoint_id] < share]
        if not under:
            return None
        chosen = min(under, key=lambda endpoint_id: self._held[endpoint_id])
        self._held[chosen] += 1
        line = waiting.pop(chosen)
        claimed = line.popleft()
        if line:
            waiting[chosen] = line  # to the back: the others' turn first (round robin)
        return claimed

    def holding(self) -> frozenset[int]:
        """Endpoints with a send in flight in this process."""
        with self.lock:
            return frozenset(endpoint_id for endpoint_id, held in self._held.items() if held)

    def release_locked(self, endpoint_id: int) -> None:
        self._held[endpoint_id] -= 1
        if self._held[endpoint_id] <= 0:
            del self._held[endpoint_id]


_senders_lock = threading.Lock()
_senders_created: Senders | None = None


def senders_get() -> Senders:
    global _senders_created
    with _senders_lock:
        threads = settings.WILDCAT_WEBHOOK_DRAIN_THREADS
        if _senders_created is None or _senders_created.threads != threads:  # changed: only ever in tests
            _senders_created = Senders(threads)
        return _senders_created
