"""A cheap cross-process wake-up: "connection N has new work". Never the carrier of the work itself.

The work is always a database row; a lost wake-up only delays it until the next poll. One message
on the channel names one or more connections, comma-separated.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable

from wildcat.redis_client import get_redis

logger = logging.getLogger(__name__)
CONNECTION_CHANNEL = "wildcat:wake:connections"


def _publish(connection_ids: Iterable[int]) -> None:
    client = get_redis()
    if client is None:
        return
    payload = ",".join(str(connection_id) for connection_id in connection_ids)
    try:
        client.publish(CONNECTION_CHANNEL, payload)
    except Exception:  # noqa: BLE001 - the sweeper/poller still finds the work
        logger.warning("wake-up publish failed for connections %s", payload)


def wake_connection(connection_id: int) -> None:
    """Publish a wake-up now; silently a no-op without Redis or when Redis is down (polling covers it)."""
    _publish([connection_id])


def wakeup_connection_ids(data: bytes | str) -> list[int]:
    """The connection ids one channel message names (malformed parts are skipped)."""
    text = data.decode() if isinstance(data, bytes) else data
    return [int(part) for part in text.split(",") if part.strip().isdigit()]


class _Coalescer:
    """Wake-ups asked for on a hot path, published by a background thread at most once per window.

    When the process is quiet, a wake-up goes out at once (a thread hand-off). Under load, the
    connections asked for during a window go out together in one publish at its end, so the API
    pays a set insertion per send rather than a Redis round trip, and the session hosts get one
    message per window instead of one per send. Every wake-up is published after it was asked for;
    the ones still pending when the process exits are found by the hosts' polling.
    """

    WINDOW_SECONDS = 0.02

    def __init__(self) -> None:
        self._pending: set[int] = set()
        self._ready = threading.Condition()
        self._owner_pid = 0

    def add(self, connection_id: int) -> None:
        with self._ready:
            if self._owner_pid != os.getpid():  # first use here, or a forked child: threads do not survive fork
                self._owner_pid = os.getpid()
                self._pending = set()
                threading.Thread(target=self._run, name="wildcat-wakeups", daemon=True).start()
            self._pending.add(connection_id)
            self._ready.notify()

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._pending:
                    self._ready.wait()
                batch, self._pending = self._pending, set()
            _publish(sorted(batch))
            time.sleep(self.WINDOW_SECONDS)


_coalescer = _Coalescer()


def wake_connection_soon(connection_id: int) -> None:
    """Like ``wake_connection``, for hot paths in long-lived processes: published in the background,
    together with the other wake-ups of the same moment (at most ``_Coalescer.WINDOW_SECONDS`` later)."""
    _coalescer.add(connection_id)
