"""Celery tasks for webhooks: thin wrappers that take ids and call the delivery engine.

Callers queue them on the ``webhooks`` queue explicitly (``services.dispatch`` and the beat entry).
"""

from __future__ import annotations

from celery import shared_task

from webhooks import delivery


@shared_task(name="webhooks.tasks.delivery_attempt_task", ignore_result=True)
def delivery_attempt_task(delivery_id: int) -> str | None:
    """One attempt for a delivery; a no-op unless the delivery is due and this worker claims it."""
    return delivery.delivery_attempt(delivery_id)


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
