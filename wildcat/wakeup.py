"""A cheap cross-process wake-up: "connection N has new work". Never the carrier of the work itself.

The work is always a database row; a lost wake-up only delays it until the next poll.
"""

from __future__ import annotations

import logging

from wildcat.redis_client import get_redis

logger = logging.getLogger(__name__)
CONNECTION_CHANNEL = "wildcat:wake:connections"


def wake_connection(connection_id: int) -> None:
    """Publish a wake-up; silently a no-op without Redis or when Redis is down (polling covers it)."""
    client = get_redis()
    if client is None:
        return
    try:
        client.publish(CONNECTION_CHANNEL, str(connection_id))
    except Exception:  # noqa: BLE001 - the sweeper/poller still finds the work
        logger.warning("wake-up publish failed for connection %s", connection_id)
