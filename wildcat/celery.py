"""The Celery application: queues, reliability defaults and the beat schedule."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import task_failure, task_prerun, task_retry, task_success
from django.conf import settings
from django.db import close_old_connections
from kombu import Queue

from wildcat import metrics

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wildcat.settings")

app = Celery("wildcat")
app.config_from_object("django.conf:settings", namespace="CELERY")


def _broker_transport_options() -> dict:
    if settings.CELERY_BROKER_URL.startswith("filesystem"):
        folder = settings.DATA_DIR / "broker"
        for sub in ("queue", "control", "processed"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        return {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "control_folder": str(folder / "control"),
            "processed_folder": str(folder / "processed"),
            "store_processed": False,
        }
    # Longer than the longest task, so an unacknowledged task is not redelivered while it runs.
    return {"visibility_timeout": max(3600, 2 * settings.CELERY_TASK_TIME_LIMIT)}


app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_ignore_result=True,
    task_default_queue="default",
    task_queues=[Queue("default"), Queue("sessions"), Queue("webhooks")],
    task_create_missing_queues=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    beat_schedule={},
)
app.conf.broker_transport_options = _broker_transport_options()
# Celery's Django fixup closes the DB connection around every task unless told to reuse it.
app.conf["CELERY_DB_REUSE_MAX"] = 1000
app.autodiscover_tasks()


def beat_schedule_add(name: str, task: str, seconds: float, queue: str = "default") -> None:
    """Register a periodic task; each app calls this from its AppConfig.ready()."""
    app.conf.beat_schedule[name] = {"task": task, "schedule": seconds, "options": {"queue": queue, "expires": seconds}}


def close_broken_connections(task: Any = None, **_: object) -> None:
    """Before each task: drop this thread's database connection if it broke or outlived CONN_MAX_AGE.

    With CELERY_DB_REUSE_MAX, Celery's Django fixup looks at connections only every 2,000 tasks, so a
    connection broken by a database restart would fail every later task of its thread until then.
    An eager task runs inside its caller's transaction, whose connection is the caller's to manage.
    """
    if task is not None and task.request.is_eager:
        return
    close_old_connections()


def _connect_task_signals() -> None:
    task_prerun.connect(close_broken_connections, weak=False)
    task_success.connect(lambda sender=None, **_: metrics.observe_task(sender.name, "success"), weak=False)
    task_failure.connect(lambda sender=None, **_: metrics.observe_task(sender.name, "failure"), weak=False)
    task_retry.connect(lambda sender=None, **_: metrics.observe_task(sender.name, "retry"), weak=False)


_connect_task_signals()
