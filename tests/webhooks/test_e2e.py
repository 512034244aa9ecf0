"""End to end with real webhooks workers, beat and Redis: delivery, retries, kill -9 and a flushed Redis."""

from __future__ import annotations

import pytest
import redis
from django.db import transaction

from tests.support.http_receiver import Reply, always, in_turn, receiving
from tests.support.processes import running, start_beat, start_worker, wait_until
from tests.webhooks.factories import EndpointFactory
from webhooks.models import WebhookDelivery
from webhooks.services import event_emit

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

FAST = {
    "WILDCAT_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
    "WILDCAT_WEBHOOK_RETRY_SCALE": "0.1",
    "WILDCAT_WEBHOOK_SWEEP_SECONDS": "0.5",
    "WILDCAT_WEBHOOK_REDISPATCH_SECONDS": "2",
}


def _worker(logs, name="webhooks", **env):
    return start_worker(name, "webhooks", logs, **{**FAST, **env})


def _emit_committed(endpoint, count: int = 1) -> list[int]:
    ids = []
    for index in range(count):
        with transaction.atomic():
            event = event_emit(api_key_id=endpoint.api_key_id, event_type="message.sent", data={"n": index})
        ids.append(event.deliveries.get().pk)
    return ids


def _statuses(ids: list[int]) -> list[str]:
    return list(WebhookDelivery.objects.filter(pk__in=ids).order_by("pk").values_list("status", flat=True))


def test_events_are_delivered_on_commit_and_retried_by_the_sweeper(redis_url, process_logs):
    with receiving(in_turn(Reply(status=500), Reply())) as receiver:
        endpoint = EndpointFactory(url=f"{receiver.url}/hook")
        with running(_worker(process_logs), start_beat(process_logs, **FAST)):
            (delivery_id,) = _emit_committed(endpoint)
            wait_until(lambda: _statuses([delivery_id]) == ["delivered"], timeout=90, message="delivered after a 500")
        ids = {request.headers["webhook-id"] for request in receiver.requests}
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert receiver.count() == 2 and ids == {delivery.message_id}
    assert list(delivery.attempts.order_by("number").values_list("status_code", flat=True)) == [500, 200]


def test_kill_9_of_the_worker_mid_delivery_loses_nothing(redis_url, process_logs):
    hang_first = lambda request, index: Reply(hang=60) if index == 0 else Reply()  # noqa: E731
    with receiving(hang_first) as receiver:
        endpoint = EndpointFactory(url=f"{receiver.url}/hook")
        # The claim must outlast the time until the kill below, so nobody else resends meanwhile.
        env = {"WILDCAT_WEBHOOK_CLAIM_SECONDS": "8", "WILDCAT_WEBHOOK_TIMEOUT": "120"}
        beat = start_beat(process_logs, **FAST, **env)
        doomed = _worker(process_logs, name="doomed", **env)
        with running(beat, doomed):
            ids = _emit_committed(endpoint, count=1)
            wait_until(lambda: receiver.count() >= 1, timeout=90, message="the worker is mid-delivery")
            ids += _emit_committed(endpoint, count=4)
            doomed.kill()
            assert WebhookDelivery.objects.filter(pk=ids[0], status="sending").exists()
            with running(_worker(process_logs, name="survivor", **env)):
                wait_until(lambda: set(_statuses(ids)) == {"delivered"}, timeout=120, message="all delivered")
        received = [request.headers["webhook-id"] for request in receiver.requests]
    expected = set(WebhookDelivery.objects.filter(pk__in=ids).values_list("message_id", flat=True))
    assert set(received) == expected
    assert received.count(WebhookDelivery.objects.get(pk=ids[0]).message_id) == 2  # the interrupted one, resent


def test_a_flushed_redis_between_event_and_delivery_is_recovered_by_the_sweeper(redis_url, process_logs):
    with receiving(always(Reply())) as receiver:
        endpoint = EndpointFactory(url=f"{receiver.url}/hook")
        ids = _emit_committed(endpoint, count=3)  # queued on commit, no worker yet
        client = redis.Redis.from_url(redis_url)
        assert client.dbsize() > 0, "the dispatch reached the broker"
        client.flushdb()
        with running(_worker(process_logs), start_beat(process_logs, **FAST)):
            wait_until(lambda: set(_statuses(ids)) == {"delivered"}, timeout=90, message="delivered by the sweeper")
        assert receiver.count() == 3
