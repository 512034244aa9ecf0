"""API keys: the app that decides who may call the API."""

from django.apps import AppConfig
from django.conf import settings


class ApikeysConfig(AppConfig):
    name = "apikeys"
    verbose_name = "API access"

    def ready(self) -> None:
        from wildcat.celery import beat_schedule_add

        beat_schedule_add(
            "apikeys-usage-flush", "apikeys.tasks.usage_flush_task", float(settings.WILDCAT_API_USAGE_FLUSH_SECONDS)
        )
