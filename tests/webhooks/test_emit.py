"""event_emit: the outbox written in the caller's transaction, cheap when nobody listens."""

from __future__ import annotations

import json

import pytest
from django.db import transaction

from tests.accounts.factories import ConnectionFactory
from tests.apikeys.factories import ApiKeyFactory
from tests.webhooks.factories import EndpointFactory
from webhooks.models import WebhookDelivery, WebhookEvent
from webhooks.services import event_emit

pytestmark = pytest.mark.django_db


def test_a_key_without_endpoints_costs_one_query_and_stores_nothing(django_assert_num_queries):
    key = ApiKeyFactory()
    EndpointFactory()  # another key's endpoint does not count
    with django_assert_num_queries(1):
        assert event_emit(api_key_id=key.pk, event_type="message.sent", data={"id": 1}, connection_id=7) is None
    assert WebhookEvent.objects.count() == 0


def test_one_delivery_per_enabled_subscribed_endpoint():
    key = ApiKeyFactory()
    connection, other_connection = ConnectionFactory(api_key=key), ConnectionFactory(api_key=key)
    everything = EndpointFactory(api_key=key)
    sent_only = EndpointFactory(api_key=key, event_types=["message.sent"])
    EndpointFactory(api_key=key, event_types=["message.read"])
    for_connection = EndpointFactory(api_key=key, connection=connection)
    EndpointFactory(api_key=key, connection=other_connection)
    EndpointFactory(api_key=key, enabled=False)
    EndpointFactory()

    event = event_emit(api_key_id=key.pk, event_type="message.sent", data={"id": 5}, connection_id=connection.pk)

    endpoints = set(event.deliveries.values_list("endpoint_id", flat=True))
    assert endpoints == {everything.pk, sent_only.pk, for_connection.pk}
    ids = list(event.deliveries.values_list("message_id", flat=True))
    assert len(set(ids)) == 3 and all(i.startswith("msg_") for i in ids)
    assert set(event.deliveries.values_list("status", flat=True)) == {WebhookDelivery.Status.PENDING}


def test_events_without_a_connection_skip_connection_filtered_endpoints():
    key = ApiKeyFactory()
    EndpointFactory(api_key=key, connection=ConnectionFactory(api_key=key))
    assert event_emit(api_key_id=key.pk, event_type="message.sent", data={}) is None


def test_payload_is_type_timestamp_data_with_connection_id_and_media_as_a_link(settings):
    settings.PUBLIC_URL = "https://wildcat.example.com"
    key = ApiKeyFactory()
    EndpointFactory(api_key=key)
    event = event_emit(
        api_key_id=key.pk,
        event_type="message.received",
        data={"id": 9, "media": {"id": 42, "mimetype": "image/jpeg"}},
        connection_id=3,
    )
    payload = json.loads(event.body)
    assert set(payload) == {"type", "timestamp", "data"}
    assert payload["type"] == "message.received"
    assert payload["timestamp"].endswith("Z")
    assert payload["data"]["connection_id"] == 3
    assert payload["data"]["media"] == {
        "id": 42,
        "mimetype": "image/jpeg",
        "url": "https://wildcat.example.com/api/v1/media/42",
    }


def test_a_relative_media_link_from_the_caller_is_made_absolute(settings):
    settings.PUBLIC_URL = "https://wildcat.example.com"
    key = ApiKeyFactory()
    EndpointFactory(api_key=key)
    media = {"id": 7, "url": "/api/v1/media/7"}
    event = event_emit(api_key_id=key.pk, event_type="message.received", data={"media": media})
    assert json.loads(event.body)["data"]["media"]["url"] == "https://wildcat.example.com/api/v1/media/7"


def test_unknown_event_types_are_refused():
    key = ApiKeyFactory()
    with pytest.raises(ValueError):
        event_emit(api_key_id=key.pk, event_type="message.exploded", data={})


def test_dispatch_waits_for_commit_and_a_rollback_leaves_nothing(django_capture_on_commit_callbacks):
    key = ApiKeyFactory()
    EndpointFactory(api_key=key)
    with django_capture_on_commit_callbacks() as callbacks:
        event_emit(api_key_id=key.pk, event_type="message.sent", data={})
    assert len(callbacks) == 1

    with pytest.raises(RuntimeError), transaction.atomic():
        event_emit(api_key_id=key.pk, event_type="message.sent", data={})
        raise RuntimeError("the caller's change failed")
    assert WebhookEvent.objects.count() == 1


def test_retention_prunes_old_finished_events_only():
    from datetime import timedelta

    from django.utils import timezone

    from webhooks.services import events_prune

    key = ApiKeyFactory()
    EndpointFactory(api_key=key)
    old_done, old_retrying, recent = (
        event_emit(api_key_id=key.pk, event_type="message.sent", data={}) for _ in range(3)
    )
    long_ago = timezone.now() - timedelta(days=40)
    WebhookEvent.objects.filter(pk__in=[old_done.pk, old_retrying.pk]).update(created_at=long_ago)
    old_done.deliveries.update(status=WebhookDelivery.Status.DELIVERED)
    old_retrying.deliveries.update(status=WebhookDelivery.Status.FAILED)
    recent.deliveries.update(status=WebhookDelivery.Status.DELIVERED)

    assert events_prune(older_than_days=0) == 0
    assert events_prune(older_than_days=30) == 1
    assert set(WebhookEvent.objects.values_list("pk", flat=True)) == {old_retrying.pk, recent.pk}
    assert WebhookDelivery.objects.filter(event_id=old_done.pk).count() == 0


def _emit_sent(key, connection_id=None):
    return event_emit(api_key_id=key.pk, event_type="message.sent", data={"id": 1}, connection_id=connection_id)


def test_no_endpoint_is_remembered_so_the_next_emit_costs_no_query(django_assert_num_queries):
    key = ApiKeyFactory()
    EndpointFactory(api_key=key, event_types=["message.read"])  # subscribed to another type only
    with django_assert_num_queries(1):
        assert _emit_sent(key, connection_id=7) is None
    with django_assert_num_queries(0):
        assert _emit_sent(key, connection_id=7) is None
    assert WebhookEvent.objects.count() == 0


def test_subscribed_endpoints_are_remembered_so_the_next_emit_only_writes(django_assert_num_queries):
    key = ApiKeyFactory()
    endpoint = EndpointFactory(api_key=key)
    with django_assert_num_queries(3):  # which endpoints, the event, its delivery
        first = _emit_sent(key, connection_id=7)
    with django_assert_num_queries(2):  # the event and its delivery: no endpoint query
        second = _emit_sent(key, connection_id=7)
    for event in (first, second):
        assert list(event.deliveries.values_list("endpoint_id", flat=True)) == [endpoint.pk]


def test_the_remembered_answer_is_per_key_type_and_connection(django_assert_num_queries):
    key, other = ApiKeyFactory(), ApiKeyFactory()
    assert _emit_sent(key, connection_id=7) is None
    for kwargs in (
        {"api_key_id": other.pk, "event_type": "message.sent", "connection_id": 7},
        {"api_key_id": key.pk, "event_type": "message.read", "connection_id": 7},
        {"api_key_id": key.pk, "event_type": "message.sent", "connection_id": 8},
    ):
        with django_assert_num_queries(1):
            assert event_emit(data={}, **kwargs) is None


def test_an_endpoint_created_after_a_remembered_none_gets_the_next_event():
    from webhooks.services import endpoint_create

    key = ApiKeyFactory()
    assert _emit_sent(key) is None
    endpoint, _secret = endpoint_create(api_key_id=key.pk, url="https://hooks.example.com/in")
    event = _emit_sent(key)
    assert event is not None and list(event.deliveries.values_list("endpoint_id", flat=True)) == [endpoint.pk]


@pytest.mark.parametrize("change", ["enable", "subscribe", "orm_save"])
def test_enabling_or_subscribing_an_endpoint_voids_the_remembered_none(change):
    from webhooks.services import endpoint_enable, endpoint_update

    key = ApiKeyFactory()
    endpoint = EndpointFactory(api_key=key, enabled=change != "subscribe", event_types=["message.read"])
    if change == "enable":
        endpoint.event_types = []
        endpoint.enabled = False
        endpoint.save()
    assert _emit_sent(key) is None
    if change == "enable":
        endpoint_enable(endpoint=endpoint)
    elif change == "subscribe":
        endpoint_update(endpoint=endpoint, event_types=["message.sent"], enabled=True)
    else:  # the admin and any other writer go through the model's save
        endpoint.event_types = ["message.sent"]
        endpoint.save()
    event = _emit_sent(key)
    assert event is not None and list(event.deliveries.values_list("endpoint_id", flat=True)) == [endpoint.pk]


def test_a_none_stored_by_an_emitter_that_looked_before_the_commit_is_voided_by_the_commit(
    django_capture_on_commit_callbacks,
):
    from webhooks import emit_cache

    key = ApiKeyFactory()
    where = {"api_key_id": key.pk, "event_type": "message.sent", "connection_id": None}
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        endpoint = EndpointFactory(api_key=key)
        # Another process that cannot see this uncommitted endpoint yet finds none and says so.
        _known, token = emit_cache.endpoints_known(**where)
        emit_cache.endpoints_remember(**where, endpoint_ids=[], token=token)
        assert emit_cache.endpoints_known(**where)[0] == []
    assert emit_cache.endpoints_known(**where)[0] is None
    event = _emit_sent(key)
    assert event is not None and list(event.deliveries.values_list("endpoint_id", flat=True)) == [endpoint.pk]


def test_deleting_or_disabling_an_endpoint_voids_the_remembered_answers():
    from webhooks import emit_cache
    from webhooks.services import endpoint_delete, endpoint_disable

    key = ApiKeyFactory()
    where = {"api_key_id": key.pk, "event_type": "message.read", "connection_id": None}
    first, second = EndpointFactory(api_key=key), EndpointFactory(api_key=key)
    disable_first = lambda: endpoint_disable(endpoint_id=first.pk, reason="test")  # noqa: E731
    delete_second = lambda: endpoint_delete(endpoint=second)  # noqa: E731
    for step in (disable_first, delete_second):
        _known, token = emit_cache.endpoints_known(**where)
        emit_cache.endpoints_remember(**where, endpoint_ids=[first.pk, second.pk], token=token)
        assert emit_cache.endpoints_known(**where)[0] == [first.pk, second.pk]
        step()
        assert emit_cache.endpoints_known(**where)[0] is None
