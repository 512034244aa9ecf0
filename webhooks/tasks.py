"""Celery tasks for webhooks: thin wrappers that take ids and call the delivery engine.

Callers queue them on the ``webhooks`` queue explicitly (``services.drain_wake`` and the beat entry).
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from webhooks.attempts import claims_expire
from webhooks.drain import deliveries_drain, deliveries_sweep
from webhooks.services import drain_wake, drain_woken, events_prune

# The drain keeps its own budget (a thread pool cannot enforce Celery's limits); where the pool can,
# Celery stops a drain that somehow outlived it by a margin.
_DRAIN_LIMIT = settings.WILDCAT_WEBHOOK_DRAIN_SECONDS + settings.WILDCAT_WEBHOOK_TIMEOUT + 30


@shared_task(
    name="webhooks.tasks.deliveries_drain_task",
    ignore_result=True,
    soft_time_limit=_DRAIN_LIMIT,
    time_limit=_DRAIN_LIMIT + 10,
)
def deliveries_drain_task() -> int:
    """Wake-up: deliver whatever is due, in batches, until nothing is or the time budget is spent."""
    drain_woken()
    claims_expire(limit=settings.WILDCAT_WEBHOOK_SWEEP_BATCH)
    attempted, more = deliveries_drain()
    if more:
        drain_wake(force=True)
    return attempted


@shared_task(name="webhooks.tasks.deliveries_sweep_task", ignore_result=True)
def deliveries_sweep_task() -> int:
    """Re-queue due retries and deliveries whose task was lost (flushed Redis, killed worker)."""
    return deliveries_sweep()


@shared_task(name="webhooks.tasks.events_prune_task", ignore_result=True)
def events_prune_task() -> int:
    """Beat: delete webhook events older than WILDCAT_RETENTION_DAYS (0 keeps everything)."""
    return events_prune(older_than_days=settings.WILDCAT_RETENTION_DAYS)
