"""Celery tasks for webhooks: thin wrappers that take ids and call the delivery engine.

Callers queue them on the ``webhooks`` queue explicitly (``services.drain_wake`` and the beat entry).
"""

from __future__ import annotations

from celery import shared_task

from webhooks import delivery


@shared_task(name="webhooks.tasks.delivery_attempt_task", ignore_result=True)
def delivery_attempt_task(delivery_id: int) -> str | None:
    """One attempt for a delivery; a no-op unless the delivery is due and this worker claims it.

    Eager dispatch (tests, a single-process setup) runs this in the caller; workers drain instead.
    """
    return delivery.delivery_attempt(delivery_id)


@shared_task(name="webhooks.tasks.deliveries_drain_task", ignore_result=True)
def deliveries_drain_task() -> int:
    """Wake-up: deliver whatever is due, in batches, until nothing is or the time budget is spent."""
    from webhooks.drain import deliveries_drain
    from webhooks.services import drain_wake, drain_woken

    drain_woken()
    attempted, more = deliveries_drain()
    if more:
        drain_wake(force=True)
    return attempted


@shared_task(name="webhooks.tasks.deliveries_sweep_task", ignore_result=True)
def deliveries_sweep_task() -> int:
    """Re-queue due retries and deliveries whose task was lost (flushed Redis, killed worker)."""
    return delivery.deliveries_sweep()


@shared_task(name="webhooks.tasks.events_prune_task", ignore_result=True)
def events_prune_task() -> int:
    """Beat: delete webhook events older than WILDCAT_RETENTION_DAYS (0 keeps everything)."""
    from django.conf import settings

    from webhooks.services import events_prune

    return events_prune(older_than_days=settings.WILDCAT_RETENTION_DAYS)
