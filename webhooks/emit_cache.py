"""Remembers briefly, in the shared cache, that a key has no endpoint for an event type (so emitting costs no query).

Every entry carries the key's generation token; any change to one of the key's endpoints (create,
update, delete, enable, disable) replaces the token, which voids all of the key's entries at once.
The token is replaced both at once and again when the change commits: an emitter that looked at the
database before the commit and stores "none" afterwards stores it under a token that the commit
then voids, so an endpoint receives events from the first commit after its own.
"""

from __future__ import annotations

import logging
import secrets

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger(__name__)
_NO_GENERATION = "-"


def _generation_key(api_key_id: int) -> str:
    return f"webhooks:emit:gen:{api_key_id}"


def _none_key(api_key_id: int, event_type: str, connection_id: int | None) -> str:
    return f"webhooks:emit:none:{api_key_id}:{event_type}:{connection_id or 0}"


def no_endpoints_known(*, api_key_id: int, event_type: str, connection_id: int | None) -> tuple[bool, str]:
    """Whether "no endpoint" is cached and still valid; also returns the token to store a new answer under."""
    if settings.WILDCAT_WEBHOOK_NO_ENDPOINT_CACHE_SECONDS <= 0:
        return False, ""
    generation, none = _generation_key(api_key_id), _none_key(api_key_id, event_type, connection_id)
    try:
        found = cache.get_many([generation, none])
    except Exception:  # the cache being down only costs the query
        logger.warning("webhook endpoint cache unavailable", exc_info=True)
        return False, ""
    token = found.get(generation) or _NO_GENERATION
    return found.get(none) == token, token


def no_endpoints_remember(*, api_key_id: int, event_type: str, connection_id: int | None, token: str) -> None:
    """Store "no endpoint" under the token read before the query (see the module docstring)."""
    seconds = settings.WILDCAT_WEBHOOK_NO_ENDPOINT_CACHE_SECONDS
    if seconds <= 0 or not token:
        return
    try:
        cache.set(_none_key(api_key_id, event_type, connection_id), token, timeout=seconds)
    except Exception:
        logger.warning("webhook endpoint cache unavailable", exc_info=True)


def endpoints_changed(*, api_key_id: int) -> None:
    """Void the key's cached answers now and again when the current transaction commits."""
    _new_generation(api_key_id)
    transaction.on_commit(lambda: _new_generation(api_key_id), robust=True)


def _new_generation(api_key_id: int) -> None:
    # The token outlives every entry stored under an older one, so an expired token cannot revive them.
    lifetime = max(60, 4 * settings.WILDCAT_WEBHOOK_NO_ENDPOINT_CACHE_SECONDS)
    try:
        cache.set(_generation_key(api_key_id), secrets.token_hex(8), timeout=lifetime)
    except Exception:
        logger.error("could not void the webhook endpoint cache of key %s", api_key_id, exc_info=True)


def _on_endpoint_saved_or_deleted(sender, instance, **kwargs) -> None:
    endpoints_changed(api_key_id=instance.api_key_id)


def signals_connect() -> None:
    """Any save or delete of an endpoint (API, admin, cascades) voids its key's answers."""
    from django.db.models.signals import post_delete, post_save

    from webhooks.models import WebhookEndpoint

    post_save.connect(_on_endpoint_saved_or_deleted, sender=WebhookEndpoint, dispatch_uid="webhooks-emit-cache-save")
    post_delete.connect(_on_endpoint_saved_or_deleted, sender=WebhookEndpoint, dispatch_uid="webhooks-emit-cache-del")
