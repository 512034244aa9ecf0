"""The batch path: claims that never overlap, bulk results, expired claims, one wake-up per burst."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta

import pytest
import redis
from cryptography.fernet import Fernet
from django.db import connection, transaction
from django.utils import timezone

from tests.support.http_receiver import Reply, always, receiving
from tests.support.processes import running, start_worker, wait_until
from tests.support.trickle import trickling
from tests.webhooks.factories import EndpointFactory
from webhooks import drain
from webhooks.attempts import claims_expire
from webhooks.endpoint_cache import EndpointCache
from webhooks.models import DeliveryAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.services import QUEUE, drain_wake, drain_woken, event_emit

Status = WebhookDelivery.Status


@pytest.fixture(autouse=True)
def _fast(settings):
    settings.WILDCAT_WEBHOOK_RETRY_SCALE = 0.001
    settings.WILDCAT_WEBHOOK_TIMEOUT = 2.0
    settings.WILDCAT_WEBHOOK_DRAIN_BATCH = 8
    settings.WILDCAT_WEBHOOK_DRAIN_THREADS = 4


def _emit(endpoint, count: int) -> list[int]:
    ids = []
    for index in range(count):
        event = event_emit(api_key_id=endpoint.api_key_id, event_type="message.sent", data={"n": index})
        ids.append(event.deliveries.get().pk)
    return ids


def _statuses(ids: list[int]) -> Counter:
    return Counter(WebhookDelivery.objects.filter(pk__in=ids).values_list("status", flat=True))


@pytest.mark.django_db
def test_a_drain_delivers_everything_due_and_records_every_attempt(settings):
    settings.WILDCAT_WEBHOOK_RETRY_SCALE = 1.0  # the failed one is not due again within this drain
    replies = lambda request, index: Reply(status=500) if request.body.endswith(b'"n":3}}') else Reply()  # noqa: E731
    with receiving(replies) as receiver:
        endpoint = EndpointFactory(url=f"{receiver.url}/hook")
        ids = _emit(endpoint, 20)
        later = _emit(endpoint, 1)
        WebhookDelivery.objects.filter(pk__in=later).update(next_attempt_at=timezone.now() + timedelta(hours=1))
        attempted, more = drain.deliveries_drain(budget=60)
    assert (attempted, more) == (20, False)
    assert _statuses(ids) == Counter({Status.DELIVERED: 19, Status.FAILED: 1})
    assert _statuses(later) == Counter({Status.PENDING: 1})  # not due: untouched
    assert receiver.count() == 20
    assert Counter(request.headers["webhook-id"] for request in receiver.requests).most_common(1)[0][1] == 1
    attempts = DeliveryAttempt.objects.filter(delivery_id__in=ids)
    assert attempts.count() == 20 and attempts.filter(success=True, status_code=200, number=1).count() == 19
    failed = WebhookDelivery.objects.get(pk__in=ids, status=Status.FAILED)
    assert failed.retry_step == 1 and failed.next_attempt_at is not None
    assert failed.last_status_code == 500 and failed.claim_token == ""
    delivered = WebhookDelivery.objects.filter(pk__in=ids, status=Status.DELIVERED)
    assert not delivered.filter(delivered_at__isnull=True).exists()
    assert not delivered.exclude(next_attempt_at__isnull=True).exists()
    endpoint.refresh_from_db()
    assert endpoint.last_success_at is not None


@pytest.mark.django_db
def test_claims_never_overlap_and_an_unfinished_claim_is_due_again_after_it_expires(settings):
    settings.WILDCAT_WEBHOOK_CLAIM_SECONDS = 30
    ids = _emit(EndpointFactory(), 5)
    first_token, first = drain.deliveries_claim(limit=3)
    second_token, second = drain.deliveries_claim(limit=10)
    _third_token, third = drain.deliveries_claim(limit=10)
    assert len(first) == 3 and len(second) == 2 and third == []
    assert {d.pk for d in first} | {d.pk for d in second} == set(ids)
    assert first_token != second_token
    # The first drainer dies here (kill -9): its rows stay claimed until the claim runs out, then
    # count as a failed attempt each and come due again on the retry schedule.
    WebhookDelivery.objects.filter(pk__in=[d.pk for d in first]).update(next_attempt_at=timezone.now())
    assert claims_expire(limit=10) == 3
    WebhookDelivery.objects.filter(pk__in=[d.pk for d in first]).update(next_attempt_at=timezone.now())
    _token, again = drain.deliveries_claim(limit=10)
    assert {d.pk for d in again} == {d.pk for d in first}
    assert all(d.attempt_count == 2 for d in again)


@pytest.mark.django_db
def test_a_delivery_claimed_only_among_given_ids(settings):
    endpoint = EndpointFactory()
    mine, other = _emit(endpoint, 2)
    _token, claimed = drain.deliveries_claim(limit=10, ids=[mine])
    assert [d.pk for d in claimed] == [mine]
    assert WebhookDelivery.objects.get(pk=other).status == Status.PENDING


@pytest.mark.django_db
def test_a_disabled_endpoint_ends_its_claimed_deliveries_exhausted_unsent():
    with receiving() as receiver:
        endpoint = EndpointFactory(url=receiver.url)
        ids = _emit(endpoint, 2)
        endpoint.enabled = False
        endpoint.save()
        drain.deliveries_drain(budget=30)
    assert receiver.count() == 0
    assert _statuses(ids) == Counter({Status.EXHAUSTED: 2})


@pytest.mark.django_db
def test_a_claim_that_waited_too_long_for_a_thread_is_given_back_unsent(settings):
    settings.WILDCAT_WEBHOOK_CLAIM_SECONDS = 10
    with receiving() as receiver:
        (delivery_id,) = _emit(EndpointFactory(url=receiver.url), 1)
        token, (delivery,) = drain.deliveries_claim(limit=1)
        sent = drain._attempt(delivery, token, claimed_at=time.monotonic() - 6)
        drain.deliveries_record([sent], {})
    assert sent.outcome is None and receiver.count() == 0
    # Not raced, and not counted as an attempt: due again at once for the next drainer.
    given_back = WebhookDelivery.objects.get(pk=delivery_id)
    assert (given_back.status, given_back.attempt_count, given_back.claim_token) == (Status.PENDING, 0, "")
    assert given_back.next_attempt_at <= timezone.now()
    assert not DeliveryAttempt.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_commits_queues_one_wake_up(redis_url):
    client = redis.Redis.from_url(redis_url)
    endpoint = EndpointFactory()
    for index in range(5):
        with transaction.atomic():
            event_emit(api_key_id=endpoint.api_key_id, event_type="message.sent", data={"n": index})
    assert client.llen(QUEUE) == 1
    drain_woken()  # a drainer started: the next commit must wake another
    with transaction.atomic():
        event_emit(api_key_id=endpoint.api_key_id, event_type="message.sent", data={"n": 5})
    assert client.llen(QUEUE) == 2


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_two_workers_draining_at_once_send_each_delivery_exactly_once(redis_url, process_logs):
    fast = {
        "WILDCAT_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        "WILDCAT_WEBHOOK_DRAIN_BATCH": "8",
        "WILDCAT_WEBHOOK_DRAIN_THREADS": "4",
    }
    with receiving(always(Reply(hang=0.02))) as receiver:
        endpoint = EndpointFactory(url=f"{receiver.url}/hook")
        with transaction.atomic():
            ids = _emit(endpoint, 120)
        # Both workers start with work waiting, and every drain task wakes them both.
        client = redis.Redis.from_url(redis_url)
        for _ in range(3):
            drain_wake(force=True)
        assert client.llen(QUEUE) >= 3
        workers = [start_worker(name, "webhooks", process_logs, concurrency=2, **fast) for name in ("one", "two")]
        with running(*workers):
            wait_until(lambda: _statuses(ids)[Status.DELIVERED] == 120, timeout=120, message="all delivered")
        hits = Counter(request.headers["webhook-id"] for request in receiver.requests)
    expected = set(WebhookDelivery.objects.filter(pk__in=ids).values_list("message_id", flat=True))
    assert set(hits) == expected
    assert max(hits.values()) == 1, [mid for mid, n in hits.items() if n > 1]
    assert DeliveryAttempt.objects.filter(delivery_id__in=ids).count() == 120


@pytest.mark.django_db
def test_an_unreadable_secret_fails_only_its_own_deliveries():
    with receiving() as receiver:
        good = EndpointFactory(url=receiver.url)
        bad = EndpointFactory(url=receiver.url)
        good_ids, bad_ids = _emit(good, 3), _emit(bad, 2)
        foreign = Fernet(Fernet.generate_key()).encrypt(b"whsec_AAAA").decode()  # another deployment's key
        with connection.cursor() as cursor:
            table = WebhookEndpoint._meta.db_table
            cursor.execute(f"UPDATE {table} SET secret = %s WHERE id = %s", [foreign, bad.pk])  # noqa: S608
        drain.deliveries_drain(budget=30)
    assert _statuses(good_ids) == Counter({Status.DELIVERED: 3})
    assert _statuses(bad_ids) == Counter({Status.FAILED: 2})
    assert receiver.count() == 3
    assert "cannot be decrypted" in WebhookDelivery.objects.filter(pk__in=bad_ids).first().last_error


@pytest.mark.django_db
def test_attempts_keep_what_the_receiver_answered_even_a_nul_byte():
    """The batch INSERT stores each attempt's own fields; a NUL (which PostgreSQL text refuses) is replaced."""
    replies = lambda request, index: (  # noqa: E731
        Reply(status=500, body=b"boom\x00tail")
        if request.body.endswith(b'"n":1}}')
        else Reply(status=201, body=b"fine")
    )
    with receiving(replies) as receiver:
        ids = _emit(EndpointFactory(url=f"{receiver.url}/hook"), 3)
        before = timezone.now()
        drain.deliveries_drain(budget=30)
    attempts = {attempt.delivery_id: attempt for attempt in DeliveryAttempt.objects.filter(delivery_id__in=ids)}
    assert len(attempts) == 3
    failed = attempts[ids[1]]
    assert (failed.status_code, failed.success, failed.response_excerpt) == (500, False, "boom\ufffdtail")
    assert failed.error == "HTTP 500"
    for delivery_id in (ids[0], ids[2]):
        attempt = attempts[delivery_id]
        assert (attempt.status_code, attempt.success, attempt.response_excerpt, attempt.number) == (
            201,
            True,
            "fine",
            1,
        )
        assert before <= attempt.started_at <= attempt.created_at <= timezone.now()
    assert _statuses(ids) == Counter({Status.DELIVERED: 2, Status.FAILED: 1})


@pytest.mark.django_db
def test_a_drainer_reuses_an_unchanged_endpoint_and_sees_every_change_from_the_next_batch():
    from webhooks.services import endpoint_rotate_secret, endpoint_update

    endpoint = EndpointFactory(url="http://127.0.0.1:9/first")
    _emit(endpoint, 5)
    cache = EndpointCache()

    def claimed_endpoint() -> WebhookEndpoint:
        _token, (delivery,) = drain.deliveries_claim(limit=1, endpoints=cache)
        return delivery.endpoint

    first = claimed_endpoint()
    assert claimed_endpoint() is first  # unchanged: not loaded (nor its secret decrypted) again
    endpoint_update(endpoint=WebhookEndpoint.objects.get(pk=endpoint.pk), url="http://127.0.0.1:9/second")
    assert claimed_endpoint().url == "http://127.0.0.1:9/second"
    new_secret = endpoint_rotate_secret(endpoint=WebhookEndpoint.objects.get(pk=endpoint.pk))
    rotated = claimed_endpoint()
    assert (rotated.secret, rotated.previous_secret) == (new_secret, first.secret)
    # Disabled by a bare UPDATE (the service also ends the queued deliveries, leaving none to claim).
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(enabled=False)
    assert claimed_endpoint().enabled is False


def _trickling_key(url: str, *, endpoints: int, events: int) -> list[int]:
    """One API key with ``endpoints`` endpoints at ``url``; ``events`` events make a delivery to each."""
    first = EndpointFactory(url=f"{url}/hook0")
    for index in range(1, endpoints):
        EndpointFactory(api_key=first.api_key, url=f"{url}/hook{index}")
    for index in range(events):
        event_emit(api_key_id=first.api_key_id, event_type="message.sent", data={"n": index})
    return list(WebhookDelivery.objects.filter(endpoint__api_key=first.api_key).values_list("pk", flat=True))


def _other_key_delivery(url: str) -> int:
    endpoint = EndpointFactory(url=url)
    return event_emit(api_key_id=endpoint.api_key_id, event_type="message.sent", data={}).deliveries.get().pk


@pytest.mark.django_db
def test_24_trickling_deliveries_do_not_hold_back_another_keys_webhook(settings):
    """A receiver that trickles its status line is cut at the timeout, each time, and others keep flowing."""
    settings.WILDCAT_WEBHOOK_TIMEOUT = 1.0
    settings.WILDCAT_WEBHOOK_RETRY_SCALE = 100.0  # a cut attempt is not due again within this drain
    settings.WILDCAT_WEBHOOK_DRAIN_THREADS = 8
    with trickling(interval=0.2) as slow, receiving() as receiver:
        slow_ids = _trickling_key(slow.url, endpoints=8, events=3)
        other_id = _other_key_delivery(receiver.url)
        started = time.time()
        drain.deliveries_drain(budget=60)
        arrived_after = receiver.requests[0].at - started
    assert len(slow_ids) == 24 and slow.count() == 24
    # Eight sender threads for nine endpoints: one round of cut attempts at most before its turn,
    # although its delivery is the newest of 25 and the drainer claims 8 at a time.
    assert arrived_after < 3 * settings.WILDCAT_WEBHOOK_TIMEOUT
    assert WebhookDelivery.objects.get(pk=other_id).status == Status.DELIVERED
    assert _statuses(slow_ids) == Counter({Status.FAILED: 24})
    attempts = DeliveryAttempt.objects.filter(delivery_id__in=slow_ids)
    assert attempts.count() == 24
    for attempt in attempts:
        assert (attempt.success, attempt.status_code, attempt.number) == (False, None, 1)
        assert attempt.error.startswith("timeout") and 900 <= attempt.duration_ms < 1600


@pytest.mark.django_db
def test_one_endpoint_gets_only_its_share_of_the_sender_threads(settings):
    settings.WILDCAT_WEBHOOK_TIMEOUT = 1.0
    settings.WILDCAT_WEBHOOK_RETRY_SCALE = 100.0
    settings.WILDCAT_WEBHOOK_DRAIN_BATCH = 64
    with trickling(interval=0.2) as slow, receiving() as receiver:
        slow_ids = _trickling_key(slow.url, endpoints=1, events=24)
        other_id = _other_key_delivery(receiver.url)  # claimed after all 24 of the slow endpoint
        started = time.time()
        drain.deliveries_drain(budget=60)
        arrived_after = receiver.requests[0].at - started
    # Sent before the first slow attempt is even cut: the slow endpoint never had every thread.
    assert arrived_after < 0.8 * settings.WILDCAT_WEBHOOK_TIMEOUT
    assert WebhookDelivery.objects.get(pk=other_id).status == Status.DELIVERED
    assert _statuses(slow_ids) == Counter({Status.FAILED: 24})


@pytest.mark.django_db
def test_a_drain_ends_within_its_budget_whatever_the_receivers_do(settings):
    settings.WILDCAT_WEBHOOK_TIMEOUT = 1.0
    settings.WILDCAT_WEBHOOK_RETRY_SCALE = 100.0
    with trickling(interval=0.2) as slow:
        ids = _trickling_key(slow.url, endpoints=8, events=3)
        started = time.monotonic()
        attempted, more = drain.deliveries_drain(budget=2)
        elapsed = time.monotonic() - started
    assert elapsed < 2 + 1.5 and more
    # What was sent is recorded as failed; what could not be sent in time is given back, due again.
    statuses = _statuses(ids)
    assert set(statuses) == {Status.FAILED, Status.PENDING} and statuses[Status.FAILED] == slow.count()
    assert DeliveryAttempt.objects.filter(delivery_id__in=ids).count() == slow.count()
    assert not WebhookDelivery.objects.filter(pk__in=ids, status=Status.PENDING, attempt_count__gt=0).exists()
    assert 0 < attempted <= 24
