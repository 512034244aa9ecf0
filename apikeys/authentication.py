"""DRF authentication by API key: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``.

Malformed, unknown and revoked keys all end in the same 401 (a missing one too), and an address that
fails more than ``WILDCAT_AUTH_FAILURE_RATE`` times gets 429 for its failing attempts. Keys are found through a
cached record (``apikeys.records``); revoking a key overwrites that record, so the key is refused from
the next request on. With Redis, finding the record, counting the request against the throttle
window and counting its usage are one round trip (``apikeys.usage.auth_and_count``).
"""

from __future__ import annotations

import json

import redis
from django.conf import settings
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from apikeys import keys, records, usage
from apikeys.auth_failures import auth_failure_record
from apikeys.models import ApiKey
from wildcat.audit import client_ip
from wildcat.rates import parse_rate
from wildcat.redis_client import get_redis


def _presented_key(request: Request) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION")
    if header is not None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer":
            raise _refused(request)
        return value.strip()
    return request.META.get("HTTP_X_API_KEY")


def _lookup_and_count(client: redis.Redis, token_hash: str) -> ApiKey | None:
    """The Redis path: one script call finds the record and counts the request."""
    _, window_seconds = parse_rate(settings.WILDCAT_API_RATE)
    found = usage.auth_and_count(client, token_hash, window_seconds)
    if found is None:  # not cached yet: read the row once, cache it, count
        record = records.record_from_db(token_hash)
        records.store_in_redis(client, token_hash, record)
        found = usage.auth_and_count(client, token_hash, window_seconds)
        if found is None:  # Redis dropped it in between: answer from the row, uncounted
            return records.api_key_from(record, token_hash)
    raw_record, counted = found
    api_key = records.api_key_from(json.loads(raw_record), token_hash)
    if api_key is not None:
        api_key.counted = counted
    return api_key


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'

    def authenticate(self, request: Request) -> tuple[ApiKey, ApiKey] | None:
        presented = _presented_key(request)
        if presented is None:
            return None
        if not keys.is_well_formed(presented):
            raise _refused(request)
        token_hash = keys.hash_key(presented)
        client = get_redis()
        if client is not None:
            api_key = _lookup_and_count(client, token_hash)
        else:  # embedded defaults: the throttle counts separately
            api_key = records.api_key_from(records.lookup_in_cache(token_hash), token_hash)
        if api_key is None:
            raise _refused(request)
        return api_key, api_key


def _refused(request: Request) -> Exception:
    """A 401, or a 429 once this address has failed too often (counted per client address)."""
    throttled = auth_failure_record(client_ip(request))
    return throttled if throttled is not None else exceptions.AuthenticationFailed()
