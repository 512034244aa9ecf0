"""Reads for API keys."""

from __future__ import annotations

from apikeys import usage
from apikeys.models import ApiKey


def apikey_usage(*, key_id: int, pending: int | None = None) -> dict:
    """Usage as the database holds it plus what is counted but not yet flushed.

    ``pending`` is the not-yet-flushed count when the caller already has it (the throttle reads it
    in its one Redis round trip), which saves a second trip.
    """
    row = ApiKey.objects.values("usage_count", "last_used_at", "created_at").get(pk=key_id)
    if pending is None:
        pending = usage.pending_usage(key_id)
    return {
        "count": row["usage_count"] + pending,
        "last_used_at": row["last_used_at"],
        "created_at": row["created_at"],
    }
