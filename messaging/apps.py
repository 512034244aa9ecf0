"""The messaging app: messages, media, the outbox and the retention sweep."""

from django.apps import AppConfig
from django.conf import settings

from wildcat.celery import beat_schedule_add


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = "Messaging"

    def ready(self) -> None:
        beat_schedule_add(
            "messaging-retention-prune",
            "messaging.tasks.retention_prune_task",
            settings.WILDCAT_RETENTION_SWEEP_SECONDS,
            queue="default",
        )
