"""The webhooks app: endpoints, the event outbox and the delivery worker's beat sweeper."""

from django.apps import AppConfig
from django.conf import settings


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        from webhooks.emit_cache import signals_connect
        from wildcat.celery import beat_schedule_add

        signals_connect()

        beat_schedule_add(
            "webhooks-deliveries-sweep",
            "webhooks.tasks.deliveries_sweep_task",
            settings.WILDCAT_WEBHOOK_SWEEP_SECONDS,
            queue="webhooks",
        )
        beat_schedule_add(
            "webhooks-events-prune", "webhooks.tasks.events_prune_task", settings.WILDCAT_RETENTION_SWEEP_SECONDS
        )
