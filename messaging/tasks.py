"""Celery tasks of messaging: the retention sweep."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from messaging.services import messages_prune


@shared_task(name="messaging.tasks.retention_prune_task", ignore_result=True)
def retention_prune_task() -> int:
    """Beat: delete messages and media older than WILDCAT_RETENTION_DAYS (0 keeps everything)."""
    return messages_prune(older_than_days=settings.WILDCAT_RETENTION_DAYS)
