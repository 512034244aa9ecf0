"""DRF authentication by API key: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``.

Missing, malformed, unknown and revoked keys all end in the same 401. Lookups are cached in the
shared cache by digest; revoking a key drops its cache entry, so it is refused from the next request.
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from apikeys import keys
from apikeys.models import ApiKey

_MISSING = "missing"


def auth_cache_key(token_hash: str) -> str:
    return f"apikeys:auth:{token_hash}"


def _presented_key(request: Request) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION")
    if header is not None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer":
            raise exceptions.AuthenticationFailed()
        return value.strip()
    return request.META.get("HTTP_X_API_KEY")


def _lookup(token_hash: str) -> ApiKey | None:
    cached = cache.get(auth_cache_key(token_hash))
    if cached == _MISSING:
        return None
    if isinstance(cached, dict):
        return ApiKey(**cached)
    found = ApiKey.objects.filter(token_hash=token_hash).only("id", "label", "token_prefix", "status").first()
    if found is None:
        cache.set(auth_cache_key(token_hash), _MISSING, 30)
        return None
    record = {"id": found.pk, "label": found.label, "token_prefix": found.token_prefix, "status": found.status}
    cache.set(auth_cache_key(token_hash), record, settings.WILDCAT_API_KEY_CACHE_SECONDS)
    return ApiKey(**record)


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'

    def authenticate(self, request: Request) -> tuple[ApiKey, ApiKey] | None:
        presented = _presented_key(request)
        if presented is None:
            return None
        if not keys.is_well_formed(presented):
            raise exceptions.AuthenticationFailed()
        api_key = _lookup(keys.hash_key(presented))
        if api_key is None or not api_key.is_active:
            raise exceptions.AuthenticationFailed()
        return api_key, api_key
