"""Single deliveries through the drainer, against real receivers: success, retries, Retry-After, 410, redirects."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis
from django.db import transaction
from django.utils import timezone

from tests.support.http_receiver import Reply, always, in_turn, receiving
from tests.support.processes import running, start_worker, wait_until
from tests.webhooks.factories import EndpointFactory
from webhooks import attempts
from webhooks.attempts import RETRY_SCHEDULE, claims_expire, delivery_finish, next_delay
from webhooks.drain import deliveries_claim, deliveries_drain, deliveries_sweep
from webhooks.models import WebhookDelivery
from webhooks.services import QUEUE, event_emit

Status = WebhookDelivery.Status


pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast(settings):
    settings.WILDCAT_WEBHOOK_RETRY_SCALE = 0.001
    settings.WILDCAT_WEBHOOK_TIMEOUT = 1.0


def _emit(endpoint) -> WebhookDelivery:
    event = event_emit(api_key_id=endpoint.api_key_id, event_type="message.sent", data={"id": 1})
    return event.deliveries.get(endpoint=endpoint)


def _attempt_when_due(delivery: WebhookDelivery) -> WebhookDelivery:
    """Make the next attempt now, as the sweeper would once next_attempt_at passes."""
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert deliveries_drain(ids=[delivery.pk]) == (1, False)
    delivery.refresh_from_db()
    return delivery


def test_2xx_is_delivered_and_recorded():
    with receiving(always(Reply(status=204, body=b""))) as receiver:
        endpoint = EndpointFactory(url=f"{receiver.url}/hook")
        delivery = _attempt_when_due(_emit(endpoint))
    assert delivery.status == Status.DELIVERED
    assert delivery.delivered_at is not None and delivery.next_attempt_at is None
    attempt = delivery.attempts.get()
    assert (attempt.number, attempt.status_code, attempt.success) == (1, 204, True)
    endpoint.refresh_from_db()
    assert endpoint.last_success_at is not None and endpoint.failing_since is None


def test_500_then_success_retries_with_the_same_webhook_id(settings):
    settings.WILDCAT_WEBHOOK_RETRY_SCALE = 1.0
    replies = in_turn(Reply(status=500, body=b"boom " * 400), Reply(status=200))
    with receiving(replies) as receiver:
        endpoint = EndpointFactory(url=f"{receiver.url}/hook")
        delivery = _emit(endpoint)
        before = timezone.now()
        delivery = _attempt_when_due(delivery)
        assert delivery.status == Status.FAILED
        # About 5 s with jitter, kept in the database, not in a broker ETA.
        assert before + timedelta(seconds=4) <= delivery.next_attempt_at <= timezone.now() + timedelta(seconds=6)
        assert deliveries_drain(ids=[delivery.pk]) == (0, False)  # not due yet: nothing is claimed or sent
        assert receiver.count() == 1
        delivery = _attempt_when_due(delivery)
        ids = [request.headers["webhook-id"] for request in receiver.requests]
    assert delivery.status == Status.DELIVERED
    assert ids == [delivery.message_id, delivery.message_id]
    first, second = delivery.attempts.order_by("number")
    assert (first.status_code, first.success, second.status_code, second.success) == (500, False, 200, True)
    assert len(first.response_excerpt) == 1024


def test_a_not_yet_due_delivery_is_not_attempted():
    with receiving() as receiver:
        delivery = _emit(EndpointFactory(url=receiver.url))
        WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() + timedelta(hours=1))
        assert deliveries_drain(ids=[delivery.pk]) == (0, False)
        assert receiver.count() == 0


@pytest.mark.parametrize("status", [503, 429])
def test_retry_after_is_honoured(status):
    with receiving(always(Reply(status=status, headers={"Retry-After": "120"}))) as receiver:
        delivery = _emit(EndpointFactory(url=receiver.url))
        before = timezone.now()
        delivery = _attempt_when_due(delivery)
    assert delivery.status == Status.FAILED
    # The scaled schedule would retry within a second; Retry-After asks for two minutes.
    assert before + timedelta(seconds=119) <= delivery.next_attempt_at <= timezone.now() + timedelta(seconds=121)


def test_410_disables_the_endpoint_and_closes_its_other_deliveries():
    with receiving(always(Reply(status=410))) as receiver:
        endpoint = EndpointFactory(url=receiver.url)
        first, second = _emit(endpoint), _emit(endpoint)
        first = _attempt_when_due(first)
    endpoint.refresh_from_db()
    second.refresh_from_db()
    assert first.status == Status.EXHAUSTED
    assert not endpoint.enabled and "410" in endpoint.disabled_reason
    assert second.status == Status.EXHAUSTED and "disabled" in second.last_error
    assert event_emit(api_key_id=endpoint.api_key_id, event_type="message.sent", data={}) is None


def test_308_is_a_failure_and_the_redirect_target_is_never_called():
    with receiving() as target, receiving() as receiver:
        receiver.behaviour = always(Reply(status=308, headers={"Location": f"{target.url}/moved"}))
        delivery = _attempt_when_due(_emit(EndpointFactory(url=receiver.url)))
        assert target.count() == 0
    assert delivery.status == Status.FAILED
    assert delivery.last_status_code == 308
    assert "redirect" in delivery.last_error


def test_a_hang_past_the_timeout_is_a_retried_failure():
    with receiving(in_turn(Reply(hang=5), Reply())) as receiver:
        delivery = _attempt_when_due(_emit(EndpointFactory(url=receiver.url)))
        assert delivery.status == Status.FAILED
        assert "timeout" in delivery.last_error
        assert delivery.attempts.get().duration_ms < 4000
        delivery = _attempt_when_due(delivery)
    assert delivery.status == Status.DELIVERED


def test_a_connection_reset_is_a_retried_failure():
    with receiving(in_turn(Reply(reset=True), Reply())) as receiver:
        delivery = _attempt_when_due(_emit(EndpointFactory(url=receiver.url)))
        assert delivery.status == Status.FAILED
        assert "connection_error" in delivery.last_error
        assert delivery.attempts.get().status_code is None
        delivery = _attempt_when_due(delivery)
    assert delivery.status == Status.DELIVERED


def test_the_schedule_runs_out_into_exhausted():
    with receiving(always(Reply(status=500))) as receiver:
        delivery = _emit(EndpointFactory(url=receiver.url))
        for _ in range(len(RETRY_SCHEDULE) + 1):
            delivery = _attempt_when_due(delivery)
        assert receiver.count() == len(RETRY_SCHEDULE) + 1
    assert delivery.status == Status.EXHAUSTED
    assert delivery.next_attempt_at is None
    assert delivery.attempts.count() == len(RETRY_SCHEDULE) + 1


def test_the_schedule_is_about_5s_5min_30min_2h_5h_10h_10h_with_jitter(settings):
    settings.WILDCAT_WEBHOOK_RETRY_SCALE = 1.0
    expected = [5, 300, 1800, 7200, 18000, 36000, 36000]
    delays = [next_delay(step) for step in range(len(expected))]
    for delay, base in zip(delays, expected, strict=True):
        assert base * 0.8 <= delay <= base * 1.2
    assert next_delay(len(expected)) is None
    assert len({next_delay(0) for _ in range(20)}) > 1  # jittered


def test_an_endpoint_failing_continuously_past_the_limit_is_disabled(settings):
    settings.WILDCAT_WEBHOOK_DISABLE_AFTER_SECONDS = 3600
    with receiving(always(Reply(status=500))) as receiver:
        endpoint = EndpointFactory(url=receiver.url)
        _attempt_when_due(_emit(endpoint))
        endpoint.refresh_from_db()
        assert endpoint.enabled and endpoint.failing_since is not None
        type(endpoint).objects.filter(pk=endpoint.pk).update(failing_since=timezone.now() - timedelta(hours=2))
        delivery = _attempt_when_due(_emit(endpoint))
    endpoint.refresh_from_db()
    assert not endpoint.enabled
    assert "Failing continuously" in endpoint.disabled_reason and "HTTP 500" in endpoint.disabled_reason
    assert delivery.status == Status.EXHAUSTED


def test_a_success_clears_the_failure_streak(settings):
    with receiving(in_turn(Reply(status=500), Reply())) as receiver:
        endpoint = EndpointFactory(url=receiver.url)
        delivery = _attempt_when_due(_emit(endpoint))
        _attempt_when_due(delivery)
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None and endpoint.last_failure_at is not None


def test_only_one_claim_wins():
    delivery = _emit(EndpointFactory())
    assert len(deliveries_claim(limit=1, ids=[delivery.pk])[1]) == 1
    assert deliveries_claim(limit=1, ids=[delivery.pk])[1] == []
    delivery.refresh_from_db()
    assert delivery.status == Status.SENDING and delivery.attempt_count == 1


def test_a_stale_claim_cannot_overwrite_a_newer_one(settings):
    delivery = _emit(EndpointFactory())
    old_token, _claimed = deliveries_claim(limit=1, ids=[delivery.pk])
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())  # claim expired
    assert claims_expire(limit=10) == 1
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())  # its retry is due
    assert len(deliveries_claim(limit=1, ids=[delivery.pk])[1]) == 1
    assert delivery_finish(delivery, old_token, status=Status.DELIVERED) is None
    delivery.refresh_from_db()
    assert delivery.status == Status.SENDING


def test_an_unsafe_destination_at_send_time_is_a_failure_and_not_contacted(settings):
    with receiving() as receiver:
        delivery = _emit(EndpointFactory(url=receiver.url))
        settings.WILDCAT_WEBHOOK_ALLOWED_NETWORKS = []
        delivery = _attempt_when_due(delivery)
        assert receiver.count() == 0
    assert delivery.status == Status.FAILED
    assert "unsafe_destination" in delivery.last_error


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_the_sweeper_requeues_due_retries_and_lost_tasks_only(settings, redis_url, process_logs):
    """The real path: the sweeper's wake-up reaches a drain task on a worker process, which delivers."""
    settings.WILDCAT_WEBHOOK_REDISPATCH_SECONDS = 60
    now = timezone.now()
    with receiving() as receiver:
        endpoint = EndpointFactory(url=receiver.url)
        with transaction.atomic():
            _fresh, lost, retry, future = (_emit(endpoint) for _ in range(4))
        client = redis.Redis.from_url(redis_url)
        client.flushdb()  # the commit's wake-up is lost: only the sweeper's can get these delivered
        WebhookDelivery.objects.filter(pk=lost.pk).update(dispatched_at=now - timedelta(minutes=5))
        WebhookDelivery.objects.filter(pk=retry.pk).update(
            status=Status.FAILED, dispatched_at=now - timedelta(seconds=10), next_attempt_at=now
        )
        WebhookDelivery.objects.filter(pk=future.pk).update(next_attempt_at=now + timedelta(hours=1))
        before = dict(WebhookDelivery.objects.values_list("pk", "dispatched_at"))
        assert deliveries_sweep() == 2
        after = dict(WebhookDelivery.objects.values_list("pk", "dispatched_at"))
        assert {pk for pk in after if after[pk] != before[pk]} == {lost.pk, retry.pk}
        assert client.llen(QUEUE) == 1
        worker = start_worker("webhooks", "webhooks", process_logs, WILDCAT_WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8")
        with running(worker):
            wait_until(
                lambda: (
                    set(WebhookDelivery.objects.filter(pk__in=[lost.pk, retry.pk]).values_list("status", flat=True))
                    == {Status.DELIVERED}
                ),
                timeout=60,
                message="the swept deliveries delivered by a worker",
            )
        statuses = dict(WebhookDelivery.objects.values_list("pk", "status"))
    assert statuses[lost.pk] == statuses[retry.pk] == Status.DELIVERED
    assert statuses[future.pk] == Status.PENDING
    assert receiver.count() >= 2


def test_a_claim_that_expired_is_a_failed_attempt_and_moves_along_the_schedule(settings):
    settings.WILDCAT_WEBHOOK_RETRY_SCALE = 1.0
    endpoint = EndpointFactory()
    delivery = _emit(endpoint)
    deliveries_claim(limit=1, ids=[delivery.pk])  # the worker holding it dies, or hangs
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())  # the claim runs out
    assert deliveries_claim(limit=1, ids=[delivery.pk])[1] == []  # not simply taken again
    before = timezone.now()
    assert claims_expire(limit=10) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.retry_step, delivery.claim_token) == (Status.FAILED, 1, "")
    assert before + timedelta(seconds=4) <= delivery.next_attempt_at <= timezone.now() + timedelta(seconds=6)
    attempt = delivery.attempts.get()
    assert (attempt.number, attempt.success, attempt.status_code) == (1, False, None)
    assert attempt.error == attempts.EXPIRED_CLAIM_ERROR and "timeout" in delivery.last_error
    endpoint.refresh_from_db()
    assert endpoint.failing_since is not None
    assert claims_expire(limit=10) == 0  # counted once


def test_a_claim_expiring_on_the_last_step_of_the_schedule_exhausts_the_delivery():
    delivery = _emit(EndpointFactory())
    WebhookDelivery.objects.filter(pk=delivery.pk).update(retry_step=len(RETRY_SCHEDULE), status=Status.FAILED)
    deliveries_claim(limit=1, ids=[delivery.pk])
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert claims_expire(limit=10) == 1
    delivery.refresh_from_db()
    assert delivery.status == Status.EXHAUSTED and delivery.next_attempt_at is None
