"""The endpoints a drainer has loaded, reused between its batches while what a send depends on is unchanged."""

from __future__ import annotations

import logging

from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from webhooks.models import WebhookEndpoint

logger = logging.getLogger(__name__)

_ENDPOINT_FINGERPRINT_SQL = (
    "SELECT id, enabled, url, secret, previous_secret, previous_secret_expires_at FROM {table} WHERE id IN ({ids})"
)


class EndpointCache:
    """Endpoints a drainer loaded, reused for later batches while what a send depends on is unchanged.

    Each batch still reads the sending columns (one short query); only a changed or new endpoint
    is loaded again (and its secret decrypted), so a disable, URL change or rotation takes effect
    from the next batch on.
    """

    def __init__(self) -> None:
        self._loaded: dict[int, tuple[tuple[object, ...], WebhookEndpoint]] = {}

    def load(self, ids: set[int]) -> dict[int, WebhookEndpoint]:
        if not ids:
            return {}
        table = connection.ops.quote_name(WebhookEndpoint._meta.db_table)
        sql = _ENDPOINT_FINGERPRINT_SQL.format(table=table, ids=", ".join(["%s"] * len(ids)))
        with connection.cursor() as cursor:
            cursor.execute(sql, list(ids))
            fingerprints = {row[0]: tuple(row[1:]) for row in cursor.fetchall()}
        changed = {pk for pk, fingerprint in fingerprints.items() if self._loaded.get(pk, ((),))[0] != fingerprint}
        if changed:
            for pk, endpoint in _endpoints_load(changed).items():
                if pk in fingerprints:
                    self._loaded[pk] = (fingerprints[pk], endpoint)
        return {pk: self._loaded[pk][1] for pk in fingerprints if pk in self._loaded}


def _endpoints_load(ids: set[int]) -> dict[int, WebhookEndpoint]:
    """One endpoint object (and one secret decryption) per endpoint, not per delivery.

    An endpoint whose secret cannot be read comes back without it, so only its own deliveries
    fail (visibly, on the retry schedule) instead of the whole batch.
    """
    try:
        return WebhookEndpoint.objects.in_bulk(ids)
    except ImproperlyConfigured:  # one unreadable secret must not stall everyone else's deliveries
        logger.exception("webhook endpoints could not be loaded together; loading them one by one")
    endpoints = {}
    for endpoint_id in ids:
        try:
            endpoints[endpoint_id] = WebhookEndpoint.objects.get(pk=endpoint_id)
        except WebhookEndpoint.DoesNotExist:
            continue
        except ImproperlyConfigured:
            endpoints[endpoint_id] = WebhookEndpoint.objects.defer("secret", "previous_secret").get(pk=endpoint_id)
            endpoints[endpoint_id].unreadable = True
    return endpoints
