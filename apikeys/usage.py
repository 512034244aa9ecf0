"""Per-key request counting without a database write per request.

Each request does one Redis round trip: with Redis, ``auth_and_count`` (one Lua script) finds the
key's cached record and bumps the throttle window counter, the usage counter and a "seen recently"
marker; without Redis, ``count_request`` does the same through Django's cache. A beat task folds the
usage counters into the database every ``WILDCAT_API_USAGE_FLUSH_SECONDS``, and ``last_used_at`` is
written at most once per ``WILDCAT_API_LAST_USED_SECONDS`` (a minute by default) per key.
"""

from __future__ import annotations

import functools
import time
from typing import NamedTuple

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from redis.commands.core import Script

from apikeys import records
from apikeys.models import ApiKey
from wildcat.audit import audit_record
from wildcat.redis_client import get_redis

_THROTTLE = "wildcat:apikeys:throttle:{key_id}:{window}"
_USAGE = "wildcat:apikeys:usage:{key_id}"
_SEEN = "wildcat:apikeys:seen:{key_id}"
_DIRTY = "wildcat:apikeys:usage-dirty"


class Counted(NamedTuple):
    in_window: int  # requests in the current throttle window, this one included
    pending: int  # requests counted but not yet folded into ApiKey.usage_count
    first_this_interval: bool  # True when last_used_at is due to be written


# Look the key's cached record up and, for an active key, count the request: one round trip.
# The counter keys are derived from the record's id inside the script (single Redis, no cluster).
_AUTH_AND_COUNT = """
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local record = cjson.decode(raw)
if record['status'] ~= 'active' then return {raw, 0, 0, 0} end
local id = string.format('%d', record['id'])
local throttle = 'wildcat:apikeys:throttle:' .. id .. ':' .. ARGV[2]
local in_window = redis.call('INCR', throttle)
if in_window == 1 then redis.call('EXPIRE', throttle, tonumber(ARGV[1]) + 5) end
local pending = redis.call('INCR', 'wildcat:apikeys:usage:' .. id)
redis.call('SADD', 'wildcat:apikeys:usage-dirty', id)
local first = redis.call('SET', 'wildcat:apikeys:seen:' .. id, 1, 'NX', 'EX', ARGV[3])
return {raw, in_window, pending, first and 1 or 0}
"""


def auth_and_count(client: redis.Redis, token_hash: str, window_seconds: int) -> tuple[bytes, Counted] | None:
    """The cached record of a key plus the counts of this request; None when nothing is cached."""
    script = _script(client)
    window = int(time.time() // window_seconds)
    result = script(
        keys=[records.redis_key(token_hash)], args=[window_seconds, window, settings.WILDCAT_API_LAST_USED_SECONDS]
    )
    if not result:
        return None
    raw, in_window, pending, first = result
    return raw, Counted(int(in_window), int(pending), bool(first))


@functools.cache
def _script(client: redis.Redis) -> Script:
    """Registered once per client; redis-py runs it by SHA and reloads it if Redis forgot it."""
    return client.register_script(_AUTH_AND_COUNT)


def count_request(key_id: int, window_seconds: int) -> Counted:
    """Count one request in the throttle window and the usage counter."""
    seen_seconds = settings.WILDCAT_API_LAST_USED_SECONDS
    window = int(time.time() // window_seconds)
    throttle_key = _THROTTLE.format(key_id=key_id, window=window)
    usage_key = _USAGE.format(key_id=key_id)
    seen_key = _SEEN.format(key_id=key_id)
    client = get_redis()
    if client is not None:
        pipe = client.pipeline(transaction=False)
        pipe.incr(throttle_key)
        pipe.expire(throttle_key, window_seconds + 5, nx=True)
        pipe.incr(usage_key)
        pipe.sadd(_DIRTY, key_id)
        pipe.set(seen_key, 1, nx=True, ex=seen_seconds)
        in_window, _, pending, _, first = pipe.execute()
        return Counted(int(in_window), int(pending), bool(first))
    cache.add(throttle_key, 0, window_seconds + 5)
    in_window = cache.incr(throttle_key)
    cache.add(usage_key, 0, None)
    pending = cache.incr(usage_key)
    first = cache.add(seen_key, 1, seen_seconds)
    return Counted(int(in_window), int(pending), bool(first))


def pending_usage(key_id: int) -> int:
    """Requests counted but not yet folded into the database."""
    client = get_redis()
    raw = client.get(_USAGE.format(key_id=key_id)) if client is not None else cache.get(_USAGE.format(key_id=key_id))
    return int(raw or 0)


def record_last_use(api_key: ApiKey, ip: str | None) -> None:
    """Write last_used_at (the caller does so at most once per interval) and show it at once."""
    now = timezone.now()
    previous_ip = ApiKey.objects.filter(pk=api_key.pk).values_list("last_used_ip", flat=True).first()
    with transaction.atomic():
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now, last_used_ip=ip)
        if ip and ip != previous_ip:  # the audit log keeps every new address a key is used from
            audit_record(
                action="apikey.new_ip",
                actor_key_id=api_key.pk,
                target_type="apikey",
                target_id=api_key.pk,
                ip=ip,
                detail={"previous_ip": previous_ip},
            )
    api_key.last_used_at = now
    records.forget(api_key.token_hash)


def _take_pending(key_id: int) -> int:
    usage_key = _USAGE.format(key_id=key_id)
    client = get_redis()
    if client is not None:
        return int(client.getdel(usage_key) or 0)
    taken = int(cache.get(usage_key) or 0)
    if taken:
        cache.decr(usage_key, taken)
    return taken


def _give_back(key_id: int, count: int) -> None:
    usage_key = _USAGE.format(key_id=key_id)
    client = get_redis()
    if client is not None:
        client.incrby(usage_key, count)
        client.sadd(_DIRTY, key_id)
    else:
        cache.add(usage_key, 0, None)
        cache.incr(usage_key, count)


def flush_usage() -> int:
    """Fold pending counters into ApiKey.usage_count; return how many requests were folded."""
    client = get_redis()
    if client is not None:
        key_ids = [int(member) for member in client.spop(_DIRTY, 10_000) or []]
    else:
        key_ids = list(ApiKey.objects.values_list("pk", flat=True))
    folded, flushed_ids = 0, []
    for key_id in key_ids:
        count = _take_pending(key_id)
        if not count:
            continue
        try:
            ApiKey.objects.filter(pk=key_id).update(usage_count=F("usage_count") + count)
        except Exception:
            _give_back(key_id, count)
            raise
        folded += count
        flushed_ids.append(key_id)
    # Cached records carry the old usage_count: forget them so /me adds pending to the new one.
    records.forget_ids(flushed_ids)
    return folded
