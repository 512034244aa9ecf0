"""The cached copy of each key's row, by digest: what authentication and GET /me read instead of the database.

With Redis the record is JSON under ``wildcat:apikeys:auth:<digest>`` (the auth script reads it);
without Redis it lives in Django's cache. It carries the flushed usage count and ``last_used_at``,
so whoever changes those (the usage flush, the last-use write) forgets the record and the
next request reads the row again.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import redis
from django.conf import settings
from django.core.cache import cache

from apikeys.models import ApiKey
from wildcat.redis_client import get_redis

MISSING: dict[str, Any] = {"status": "missing"}
MISSING_SECONDS = 30
_FIELDS = ("id", "label", "token_prefix", "status", "created_at", "usage_count", "last_used_at")
_DATETIMES = ("created_at", "last_used_at")


def redis_key(token_hash: str) -> str:
    return f"wildcat:apikeys:auth:{token_hash}"


def cache_key(token_hash: str) -> str:
    return f"apikeys:auth:{token_hash}"


def record_from_db(token_hash: str) -> dict[str, Any]:
    found = ApiKey.objects.filter(token_hash=token_hash).values(*_FIELDS).first()
    if found is None:
        return MISSING
    for name in _DATETIMES:
        found[name] = found[name].isoformat() if found[name] is not None else None
    return found


def timeout_for(record: dict[str, Any]) -> int | None:
    """How long a record is cached. A revoked key's record never expires: it is the revoked marker."""
    if record is MISSING:
        return MISSING_SECONDS
    if record.get("status") == ApiKey.Status.REVOKED:
        return None  # a revoke is final, and no cache fill (which only takes empty slots) can replace it
    return settings.WILDCAT_API_KEY_CACHE_SECONDS


def api_key_from(record: dict[str, Any], token_hash: str) -> ApiKey | None:
    """An unsaved ApiKey built from the record, or None unless the key is active."""
    if record.get("status") != ApiKey.Status.ACTIVE:
        return None
    values = {name: record[name] for name in _FIELDS}
    for name in _DATETIMES:
        values[name] = datetime.fromisoformat(values[name]) if values[name] else None
    api_key = ApiKey(**values, token_hash=token_hash)
    api_key._state.adding = False  # it mirrors a saved row
    return api_key


def store_in_redis(client: redis.Redis, token_hash: str, record: dict[str, Any]) -> None:
    # Only fill an empty slot: a request that read the row just before a revoke committed must not
    # overwrite the revoked record that the revoke wrote (see refresh()).
    client.set(redis_key(token_hash), json.dumps(record), ex=timeout_for(record), nx=True)


# Forgetting a record (after a usage flush or a last-use write) keeps a revoked marker in place:
# otherwise a request that read the row before the revoke committed could fill the slot as active.
_FORGET_UNLESS_REVOKED = """
for _, key in ipairs(KEYS) do
  local value = redis.call('GET', key)
  if value and cjson.decode(value)['status'] ~= 'revoked' then redis.call('DEL', key) end
end
return 0
"""


def lookup_in_cache(token_hash: str) -> dict[str, Any]:
    record = cache.get(cache_key(token_hash))
    if record is None:
        record = record_from_db(token_hash)
        cache.add(cache_key(token_hash), record, timeout_for(record))
    return record


def refresh(token_hash: str) -> None:
    """Overwrite the cached record with the row as committed now (used after a revoke)."""
    record = record_from_db(token_hash)
    cache.set(cache_key(token_hash), record, timeout_for(record))
    client = get_redis()
    if client is not None:
        client.set(redis_key(token_hash), json.dumps(record), ex=timeout_for(record))


def forget(*token_hashes: str) -> None:
    """Drop cached records, except revoked markers; the next request with each key reads its row again."""
    if not token_hashes:
        return
    keys = [cache_key(token_hash) for token_hash in token_hashes]
    cached = cache.get_many(keys)
    cache.delete_many([key for key in keys if (cached.get(key) or {}).get("status") != ApiKey.Status.REVOKED])
    client = get_redis()
    if client is not None:
        names = [redis_key(token_hash) for token_hash in token_hashes]
        client.eval(_FORGET_UNLESS_REVOKED, len(names), *names)


def forget_ids(key_ids: list[int]) -> None:
    forget(*ApiKey.objects.filter(pk__in=key_ids).values_list("token_hash", flat=True))
