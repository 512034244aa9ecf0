"""Reads for API keys."""

from __future__ import annotations

from apikeys import usage
from apikeys.models import ApiKey


def apikey_usage(*, key_id: int) -> dict:
    """Usage as the database holds it plus what is counted but not yet flushed."""
    row = ApiKey.objects.values("usage_count", "last_used_at", "created_at").get(pk=key_id)
    return {
        "count": row["usage_count"] + usage.pending_usage(key_id),
        "last_used_at": row["last_used_at"],
        "created_at": row["created_at"],
    }
