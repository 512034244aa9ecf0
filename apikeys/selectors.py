"""Reads for API keys."""

from __future__ import annotations

from apikeys import usage
from apikeys.models import ApiKey


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
