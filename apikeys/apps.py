from django.apps import AppConfig


class ApikeysConfig(AppConfig):
    name = "apikeys"
    verbose_name = "API keys"

    def ready(self) -> None:
        from wildcat.celery import beat_schedule_add

        beat_schedule_add("apikeys-usage-flush", "apikeys.tasks.usage_flush_task", 30.0)
