"""Writes for API keys: create (the only moment the key exists in clear) and revoke."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.services import connections_stop_for_key
from apikeys import keys, records
from apikeys.models import ApiKey
from messaging.services import messages_fail_queued
from webhooks.services import endpoints_disable_for_key
from wildcat.audit import audit_record
from wildcat.errors import ErrorCode, invalid_request

MAX_LABEL_LENGTH = ApiKey._meta.get_field("label").max_length
# The reason on everything a revocation cuts: disabled endpoints and failed messages.
KEY_REVOKED = ErrorCode.KEY_REVOKED


def apikey_create(*, label: str, created_by: AbstractBaseUser | None = None) -> tuple[ApiKey, str]:
    """Create a key and return it with its secret, which is never stored or shown again."""
    label = (label or "").strip()
    if not label:
        raise invalid_request({"label": ["A label is required."]})
    if len(label) > MAX_LABEL_LENGTH:
        raise invalid_request({"label": [f"At most {MAX_LABEL_LENGTH} characters."]})
    secret = keys.generate_key()
    try:
        with transaction.atomic():
            api_key = ApiKey.objects.create(
                label=label,
                token_hash=keys.hash_key(secret),
                token_prefix=keys.display_prefix(secret),
                created_by=created_by,
            )
            audit_record(
                action="apikey.created",
                actor_user_id=created_by.pk if created_by is not None else None,
                target_type="apikey",
                target_id=api_key.pk,
                detail={"label": label, "prefix": api_key.token_prefix},
            )
    except IntegrityError as exc:
        raise invalid_request({"label": ["An API key with this label already exists."]}) from exc
    return api_key, secret


def apikey_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke a key and cut every flow of its data in the same transaction.

    Its webhook endpoints are disabled (reason ``key_revoked``), its connections stopped with their
    credentials kept (an operator can reassign or resume them), and its queued messages failed with
    ``key_revoked``. What was cut is recorded in the audit entry, which the admin shows.
    """
    with transaction.atomic():
        locked = ApiKey.objects.select_for_update().get(pk=api_key.pk)
        if locked.status == ApiKey.Status.REVOKED:
            api_key.__dict__.update(locked.__dict__)
            return api_key
        api_key.status = ApiKey.Status.REVOKED
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["status", "revoked_at", "updated_at"])
        cut = _data_flows_cut(api_key.pk)
        audit_record(
            action="apikey.revoked",
            target_type="apikey",
            target_id=api_key.pk,
            detail={"label": api_key.label, "cut": cut},
        )
        token_hash = api_key.token_hash
        # After commit the cache holds the revoked record itself; cache fills only take empty slots,
        # so a request that read the row just before this commit cannot re-cache the key as active.
        records.forget(token_hash)
        transaction.on_commit(lambda: records.refresh(token_hash))
    return api_key


def _data_flows_cut(api_key_id: int) -> dict[str, Any]:
    # Endpoints first: the connection events that stopping raises then reach no one.
    endpoints = endpoints_disable_for_key(api_key_id=api_key_id, reason=KEY_REVOKED)
    connections = connections_stop_for_key(api_key_id=api_key_id)
    # No message.failed events: the key's endpoints are disabled, so they would reach no one.
    messages = messages_fail_queued(api_key_id=api_key_id, code=KEY_REVOKED, reason="The API key was revoked.")
    return {"webhook_endpoints": endpoints, "connections": connections, "queued_messages": messages}
