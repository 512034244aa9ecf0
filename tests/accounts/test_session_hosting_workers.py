"""Which workers host sessions: a plain `celery -A wildcat worker` can; a prefork worker leaves the queue alone
and says so, and the API, the admin and /readyz tell the operator why a connection is not starting."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from accounts.models import WaConnection
from accounts.runtime.supervisor import pool_can_host_sessions
from tests.accounts.runtime_support import RUNTIME_ENV
from tests.support.processes import running, start_beat, start_worker, wait_until
from wildcat.models import WorkerNode

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_pools_that_can_host_sessions():
    assert pool_can_host_sessions("celery.concurrency.thread")
    assert pool_can_host_sessions("celery.concurrency.solo")
    assert not pool_can_host_sessions("celery.concurrency.prefork")
    assert not pool_can_host_sessions("celery.concurrency.gevent")


def _reason(api_client, connection_id: int) -> str:
    return api_client.get(f"/api/v1/connections/{connection_id}").json()["not_starting_reason"]


def test_a_prefork_worker_leaves_sessions_alone_and_a_plain_worker_hosts_them(
    api_client, redis_url, process_logs
):  # fmt: skip
    env = {**RUNTIME_ENV, "REDIS_URL": redis_url}
    prefork = start_worker(
        "prefork", "sessions,default", process_logs, pool=None, concurrency=1, WILDCAT_WORKER_POOL="prefork", **env
    )
    with running(prefork):
        node = wait_until(lambda: WorkerNode.objects.filter(pid=prefork.pid).first(), timeout=60, message="heartbeat")
        assert node.queues == "default", "a worker that cannot host sessions must not consume their queue"
        assert "cannot host sessions" in prefork.log_text()

        created = api_client.post("/api/v1/connections", {"name": "waits", "driver": "sandbox"}, format="json")
        connection_id = created.json()["id"]
        assert api_client.post(f"/api/v1/connections/{connection_id}/start").status_code == 200
        reason = _reason(api_client, connection_id)
        assert reason.startswith("No worker can host sessions") and "celery -A wildcat worker -Q sessions" in reason

        ready = Client().get("/readyz")
        assert ready.status_code == 200, "reads and queued sends still work: a warning, not a failure"
        assert ready.json()["checks"]["sessions"]["status"] == "warn"
        assert "no worker can host sessions" in ready.json()["checks"]["sessions"]["detail"]

        admin = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-0123456789")
        browser = Client()
        browser.force_login(admin)
        page = browser.get(f"/admin/accounts/waconnection/{connection_id}/change/")
        assert "No worker can host sessions" in page.content.decode()
        assert WaConnection.objects.get(pk=connection_id).status == "not_started"

        # The usual command, without -P: the project's default pool hosts sessions (beat's reconciler
        # hands it the connection that has been waiting).
        plain = start_worker("plain", "sessions", process_logs, pool=None, **env)
        with running(plain, start_beat(process_logs, **env)):
            wait_until(
                lambda: WaConnection.objects.get(pk=connection_id).status == "pending",
                timeout=90,
                message="the plain worker starts the waiting connection (QR shown)",
            )
            assert _reason(api_client, connection_id) == ""
            sessions = Client().get("/readyz").json()["checks"]["sessions"]
            assert (sessions["status"], sessions["detail"]) == ("ok", "1 can host sessions")
            assert sorted(sessions) == ["detail", "ms", "status"] and 0 <= sessions["ms"] < 10_000
