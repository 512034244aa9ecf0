"""Reads for API keys."""

from __future__ import annotations

from typing import Any

from apikeys import usage
from apikeys.models import ApiKey
from wildcat.models import AuditEntry


def apikey_usage(*, api_key: ApiKey) -> dict:
    """Usage of the calling key: the flushed count plus what is counted but not yet flushed.

    ``api_key`` is the one authentication produced from the cached record (``apikeys.records``),
    which holds the flushed count and ``last_used_at``; authentication also read the pending count
    in its Redis round trip. So this costs no query at all on the hot path.
    """
    counted = getattr(api_key, "counted", None)
    pending = getattr(api_key, "pending_usage", None)
    if pending is None:
        pending = counted.pending if counted is not None else usage.pending_usage(api_key.pk)
    return {"count": api_key.usage_count + pending, "last_used_at": api_key.last_used_at}


def apikey_revocation_cut(*, api_key: ApiKey) -> dict[str, Any] | None:
    """What revoking the key cut (endpoint and connection ids, failed message count), or None."""
    entry = (
        AuditEntry.objects.filter(
            action=AuditEntry.Action.APIKEY_REVOKED, target_type="apikey", target_id=str(api_key.pk)
        )
        .order_by("-pk")
        .first()
    )
    return (entry.detail or {}).get("cut") if entry else None
