from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "WhatsApp connections"

    def ready(self) -> None:
        from accounts.worker_heartbeat import WorkerHeartbeatStep
        from wildcat.celery import app

        app.steps["worker"].add(WorkerHeartbeatStep)
