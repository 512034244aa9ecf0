"""The accounts app: WhatsApp connections, their session runtime wiring and periodic tasks."""

from django.apps import AppConfig
from django.conf import settings

from wildcat.celery import app, beat_schedule_add


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "WhatsApp connections"

    def ready(self) -> None:
        # Here, not at the top: these modules import models, which Django loads after this module.
        from accounts.runtime import tasks  # noqa: F401 - registers the runtime's Celery tasks
        from accounts.runtime.supervisor import SessionSupervisorStep

        app.steps["worker"].add(SessionSupervisorStep)
        # On the sessions queue, so a node running only a sessions worker still reconciles.
        beat_schedule_add(
            "accounts-sessions-reconcile",
            "accounts.tasks.sessions_reconcile_task",
            settings.WILDCAT_RECONCILE_SECONDS,
            queue="sessions",
        )
