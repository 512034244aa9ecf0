"""The wildcat app: system checks, the OpenAPI auth extension, audit sign-in hooks, the worker heartbeat."""

from django.apps import AppConfig


class WildcatConfig(AppConfig):
    name = "wildcat"
    verbose_name = "Wildcat"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_login_failed

        from wildcat import audit, checks  # noqa: F401 - registers the system checks
        from wildcat.api import schema  # noqa: F401 - registers the OpenAPI auth extension
        from wildcat.celery import app
        from wildcat.worker_heartbeat import WorkerHeartbeatStep

        app.steps["worker"].add(WorkerHeartbeatStep)
        user_logged_in.connect(audit.on_user_logged_in, dispatch_uid="wildcat.audit.login")
        user_login_failed.connect(audit.on_user_login_failed, dispatch_uid="wildcat.audit.login_failed")
