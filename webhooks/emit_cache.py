"""Remembers briefly, in the shared cache, which endpoints of a key want an event type (so emitting costs no query).

The answer is a list of endpoint ids, often empty: most keys have no endpoint for most events.

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
from django.db.models.signals import post_delete, post_save

from webhooks.models import WebhookEndpoint

logger = logging.getLogger(__name__)
_NO_GENERATION = "-"


def _generation_key(api_key_id: int) -> str:
    return f"webhooks:emit:gen:{api_key_id}"


def _answer_key(api_key_id: int, event_type: str, connection_id: int | None) -> str:
    return f"webhooks:emit:endpoints:{api_key_id}:{event_type}:{connection_id or 0}"


def endpoints_known(*, api_key_id: int, event_type: str, connection_id: int | None) -> tuple[list[int] | None, str]:
    """The remembered endpoint ids if still valid (else None); also the token to store a new answer under."""
    if settings.WILDCAT_WEBHOOK_NO_ENDPOINT_CACHE_SECONDS <= 0:
        return None, ""
    generation, answer = _generation_key(api_key_id), _answer_key(api_key_id, event_type, connection_id)
    try:
        found = cache.get_many([generation, answer])
    except Exception:  # the cache being down only costs the query
        logger.warning("webhook endpoint cache unavailable", exc_info=True)
        return None, ""
    token = found.get(generation) or _NO_GENERATION
    remembered = found.get(answer)
    if isinstance(remembered, tuple) and len(remembered) == 2 and remembered[0] == token:
        return list(remembered[1]), token
    return None, token


def endpoints_remember(
    *, api_key_id: int, event_type: str, connection_id: int | None, endpoint_ids: list[int], token: str
) -> None:
    """Store the answer under the token read before the query (see the module docstring)."""
    seconds = settings.WILDCAT_WEBHOOK_NO_ENDPOINT_CACHE_SECONDS
    if seconds <= 0 or not token:
        return
    try:
        cache.set(_answer_key(api_key_id, event_type, connection_id), (token, tuple(endpoint_ids)), timeout=seconds)
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
    post_save.connect(_on_endpoint_saved_or_deleted, sender=WebhookEndpoint, dispatch_uid="webhooks-emit-cache-save")
    post_delete.connect(_on_endpoint_saved_or_deleted, sender=WebhookEndpoint, dispatch_uid="webhooks-emit-cache-del")
