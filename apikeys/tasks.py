"""Celery tasks for API keys."""

from celery import shared_task

from apikeys import usage


@shared_task(name="apikeys.tasks.usage_flush_task")
def usage_flush_task() -> int:
    return usage.flush_usage()
