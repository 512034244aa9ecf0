"""After every database connection is cut (what a PostgreSQL restart does), hosted sessions send again."""

from __future__ import annotations

import pytest
from django.db import connection as database

from accounts.models import WaConnection
from accounts.services import connection_create, connection_start
from messaging.models import Message
from messaging.services import SendRequest, message_send
from tests.accounts.runtime_support import RUNTIME_ENV, sandbox_scan, start_sessions_worker
from tests.support.processes import CHILD_APPLICATION_NAME, running, start_beat, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _cut_child_connections() -> int:
    """Terminate every PostgreSQL session of the worker, its session host and beat, as a restart would."""
    with database.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = %s",
            [CHILD_APPLICATION_NAME],
        )
        return cursor.fetchone()[0]


def _send(api_key, connection: WaConnection, text: str) -> int:
    body, _ = message_send(
        api_key_id=api_key.pk,
        connection_id=connection.pk,
        request=SendRequest(chat_jid="4915123456789@s.whatsapp.net", type="text", text=text),
    )
    return int(body["id"])


def test_a_session_sends_again_after_its_database_connections_were_cut(api_key, redis_url, process_logs):
    if database.vendor != "postgresql":
        pytest.skip("connections are cut through PostgreSQL")
    env = {**RUNTIME_ENV, "REDIS_URL": redis_url, "WILDCAT_SEND_RATE_PER_MINUTE": "0"}
    worker = start_sessions_worker("restart", process_logs, **env)
    with running(worker, start_beat(process_logs, **env)):
        connection = connection_create(api_key_id=api_key.pk, name="survivor")
        connection_start(connection=connection)
        wait_until(lambda: WaConnection.objects.get(pk=connection.pk).status == "pending", timeout=90, message="QR")
        sandbox_scan(connection)
        wait_until(lambda: WaConnection.objects.get(pk=connection.pk).status == "ready", timeout=30, message="ready")
        first = _send(api_key, connection, "before the cut")
        wait_until(lambda: Message.objects.get(pk=first).status != "queued", timeout=30, message="first send")

        assert _cut_child_connections() >= 2, "the worker and its session host each hold a connection"
        after = _send(api_key, connection, "after the cut")
        wait_until(
            lambda: Message.objects.get(pk=after).status in ("sent", "delivered", "read"),
            timeout=60,
            message="the host replaces its broken connection and sends",
        )
