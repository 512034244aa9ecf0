"""A task thread whose database connection broke (a PostgreSQL restart) gets a new one at its next task."""

from __future__ import annotations

import psycopg
import pytest
from celery.signals import task_prerun
from django.db import OperationalError, connection

from accounts.runtime.tasks import sessions_reconcile_task

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _terminate_this_connection() -> None:
    """What a database restart does to every open connection, done from a second connection."""
    settings = connection.settings_dict
    backend_pid = connection.connection.info.backend_pid
    with psycopg.connect(
        host=settings["HOST"], port=settings["PORT"] or 5432, user=settings["USER"], dbname=settings["NAME"],
        autocommit=True,
    ) as admin:  # fmt: skip
        admin.execute("SELECT pg_terminate_backend(%s)", (backend_pid,))


def test_the_next_task_after_a_database_restart_gets_a_working_connection():
    if connection.vendor != "postgresql":
        pytest.skip("the connection is terminated through PostgreSQL")
    connection.ensure_connection()
    _terminate_this_connection()
    with pytest.raises(OperationalError), connection.cursor() as cursor:
        cursor.execute("SELECT 1")

    task_prerun.send(sender=sessions_reconcile_task, task_id="t1", task=sessions_reconcile_task, args=(), kwargs={})

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
