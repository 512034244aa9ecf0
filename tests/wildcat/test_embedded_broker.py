"""`make run`'s embedded broker for real: a worker process consumes a task this process sends
through kombu's filesystem transport, with no Redis anywhere."""

from __future__ import annotations

import pytest
from kombu import Connection
from rest_framework.test import APIClient

from apikeys.models import ApiKey
from tests.apikeys.factories import ApiKeyFactory
from tests.support.processes import running, start_worker, wait_until
from wildcat.celery import _broker_transport_options, app


@pytest.mark.e2e
@pytest.mark.embedded_only
@pytest.mark.django_db(transaction=True)
def test_worker_on_the_file_broker_consumes_a_task_sent_from_another_process(
    settings, tmp_path, process_logs, monkeypatch
):
    data_dir = tmp_path / "data"
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    settings.DATA_DIR = data_dir
    settings.CELERY_BROKER_URL = "filesystem://"
    # The same file cache the worker uses (it derives it from WILDCAT_DATA_DIR), so the counters
    # this process writes are the ones the worker folds into the database.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(data_dir / "cache"),
        }
    }
    api_key = ApiKeyFactory()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.secret}")
    for _ in range(3):
        assert client.get("/api/v1/me").status_code == 200

    with Connection("filesystem://", transport_options=_broker_transport_options()) as connection:
        app.send_task("apikeys.tasks.usage_flush_task", queue="default", connection=connection)
    queued = list((data_dir / "broker" / "queue").glob("*.msg"))
    assert len(queued) == 1, "the task waits as a file in the broker folder until a worker takes it"

    worker = start_worker(
        "embedded",
        "default",
        process_logs,
        REDIS_URL="",
        WILDCAT_DATA_DIR=str(data_dir),
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    )
    with running(worker):
        wait_until(
            lambda: ApiKey.objects.get(pk=api_key.pk).usage_count == 3,
            timeout=90,
            message=f"the worker folds the usage counter; log:\n{worker.log_text()[-3000:]}",
        )
        assert worker.alive()
        wait_until(lambda: not list((data_dir / "broker" / "queue").glob("*.msg")), timeout=30, message="consumed")
    # The worker's task counter reaches /metrics through the shared multiprocess directory.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(metrics_dir))
    text = APIClient().get("/metrics").content.decode()
    assert 'wildcat_celery_tasks_total{outcome="success",task="apikeys.tasks.usage_flush_task"} 1.0' in text
    assert "usage_flush_task" in worker.log_text()
