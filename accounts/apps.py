"""The accounts app: WhatsApp connections, their session runtime wiring and periodic tasks."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "WhatsApp connections"

    def ready(self) -> None:
        from django.conf import settings

        from accounts.runtime import tasks  # noqa: F401 - registers the runtime's Celery tasks
        from accounts.runtime.supervisor import SessionSupervisorStep
        from wildcat.celery import app, beat_schedule_add

        app.steps["worker"].add(SessionSupervisorStep)
        # On the sessions queue, so a node running only a sessions worker still reconciles.
        beat_schedule_add(
            "accounts-sessions-reconcile",
            "accounts.tasks.sessions_reconcile_task",
            settings.WILDCAT_RECONCILE_SECONDS,
            queue="sessions",
        )
