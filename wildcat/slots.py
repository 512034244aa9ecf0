"""Caps on how many of one kind of slow work run at once, overall and per owner (e.g. an API key).

With Redis the caps hold across every process of the deployment: each held slot is a member of a
sorted set scored by when it expires, so a process killed while holding one frees it by itself once
its time is up. Without Redis (the embedded default) they hold within each process.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from wildcat.redis_client import get_redis

logger = logging.getLogger(__name__)

_PREFIX = "wildcat:slots:"
# Drop expired holders, then take a slot in every set only if each still has room (all or nothing).
_ACQUIRE = """
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[1])
  if redis.call('ZCARD', key) >= tonumber(ARGV[3 + i]) then return 0 end
end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, ARGV[2], ARGV[3])
  redis.call('PEXPIRE', key, math.ceil((tonumber(ARGV[2]) - tonumber(ARGV[1])) * 1000) + 1000)
end
return 1
"""
_local_lock = threading.Lock()
_local_held: Counter[str] = Counter()


@contextmanager
def slot_hold(kind: str, *, owner: str, limit: int, owner_limit: int, seconds: float) -> Iterator[bool]:
    """Hold one slot of ``kind`` (and of ``owner`` within it) for at most ``seconds``; yields whether it got one.

    The caller does the work only when it got a slot. An empty ``owner`` is capped overall only.
    """
    keys = [f"{_PREFIX}{kind}"] + ([f"{_PREFIX}{kind}:{owner}"] if owner else [])
    limits = [limit, owner_limit][: len(keys)]
    token = secrets.token_hex(8)
    client = get_redis()
    shared = client is not None and _shared_acquire(client, keys, limits, token, seconds)
    held = shared or (client is None and _local_acquire(keys, limits))
    try:
        yield bool(held)
    finally:
        if shared:
            _shared_release(client, keys, token)
        elif held:
            _local_release(keys)


def _shared_acquire(client, keys: list[str], limits: list[int], token: str, seconds: float) -> bool:
    now = time.time()
    try:
        return bool(client.eval(_ACQUIRE, len(keys), *keys, now, now + seconds + 5, token, *limits))
    except Exception:  # Redis down: refuse rather than let slow work pile up unbounded
        logger.warning("could not take a %s slot in Redis", keys[0], exc_info=True)
        return False


def _shared_release(client, keys: list[str], token: str) -> None:
    try:
        pipeline = client.pipeline()
        for key in keys:
            pipeline.zrem(key, token)
        pipeline.execute()
    except Exception:  # the slot expires by itself
        logger.warning("could not release a %s slot in Redis", keys[0], exc_info=True)


def _local_acquire(keys: list[str], limits: list[int]) -> bool:
    with _local_lock:
        if any(_local_held[key] >= cap for key, cap in zip(keys, limits, strict=True)):
            return False
        for key in keys:
            _local_held[key] += 1
        return True


def _local_release(keys: list[str]) -> None:
    with _local_lock:
        for key in keys:
            _local_held[key] -= 1
