"""The webhooks API: CRUD, secrets shown twice at most, SSRF at save time, limits, deliveries, replays."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.accounts.factories import ConnectionFactory
from tests.support.http_receiver import Reply, always, receiving
from tests.webhooks.factories import EndpointFactory
from webhooks.drain import deliveries_drain
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.services import endpoint_disable, endpoint_rotate_secret, endpoint_update, event_emit
from wildcat.event_types import ALL_TYPES

pytestmark = pytest.mark.django_db
URL = "http://127.0.0.1:9/hook"


def _create(client, **body):
    return client.post("/api/v1/webhooks", {"url": URL, **body}, format="json")


def test_create_shows_the_secret_once_and_stores_it_encrypted(api_client):
    response = _create(api_client, event_types=["message.received"], description="crm")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["secret"].startswith("whsec_")
    assert body["event_types"] == ["message.received"] and body["enabled"] is True
    detail = api_client.get(f"/api/v1/webhooks/{body['id']}").json()
    listing = api_client.get("/api/v1/webhooks").json()
    assert "secret" not in detail and "secret" not in listing["results"][0]
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM webhooks_webhookendpoint WHERE id = %s", [body["id"]])
        stored = cursor.fetchone()[0]
    assert body["secret"] not in stored
    assert WebhookEndpoint.objects.get(pk=body["id"]).secret == body["secret"]


@pytest.mark.parametrize(
    "url",
    ["http://10.0.0.1/hook", "http://localhost/hook", "http://2130706433/", "file:///etc/passwd", "http://[::1]/"],
)
def test_unsafe_urls_are_refused_at_save_time(api_client, settings, url):
    settings.WILDCAT_WEBHOOK_ALLOWED_NETWORKS = []
    response = api_client.post("/api/v1/webhooks", {"url": url}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert "url" in response.json()["error"]["details"]
    assert WebhookEndpoint.objects.count() == 0


def test_bad_input_gets_clear_400s(api_client, other_api_client):
    other_connection = ConnectionFactory()
    cases = [
        {"url": URL, "event_types": ["message.exploded"]},
        {"url": URL, "event_types": "message.sent"},
        {"url": URL, "connection_id": other_connection.pk},
        {"url": "x" * 2001},
        {},
    ]
    for body in cases:
        response = api_client.post("/api/v1/webhooks", body, format="json")
        assert response.status_code == 400, body
        assert set(response.json()["error"]) == {"code", "message", "details"}
    assert WebhookEndpoint.objects.count() == 0


def test_webhooks_per_key_are_limited(api_client, other_api_client, settings):
    settings.WILDCAT_MAX_WEBHOOKS_PER_KEY = 2
    assert [_create(api_client).status_code for _ in range(3)] == [201, 201, 400]
    assert _create(api_client).json()["error"]["code"] == "limit_exceeded"
    assert _create(other_api_client).status_code == 201


def test_update_and_delete(api_client, api_key):
    connection = ConnectionFactory(api_key=api_key)
    endpoint_id = _create(api_client).json()["id"]
    response = api_client.patch(
        f"/api/v1/webhooks/{endpoint_id}",
        {"event_types": ["message.sent", "message.read"], "connection_id": connection.pk, "enabled": False},
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["event_types"] == ["message.read", "message.sent"]
    assert body["connection_id"] == connection.pk
    assert body["enabled"] is False and body["disabled_reason"]
    response = api_client.patch(f"/api/v1/webhooks/{endpoint_id}", {"enabled": True}, format="json")
    assert response.json()["enabled"] is True and response.json()["disabled_reason"] == ""
    assert api_client.patch(f"/api/v1/webhooks/{endpoint_id}", {"url": "ftp://x"}, format="json").status_code == 400
    assert api_client.delete(f"/api/v1/webhooks/{endpoint_id}").status_code == 204
    assert api_client.get(f"/api/v1/webhooks/{endpoint_id}").status_code == 404


def test_rotate_secret_returns_the_new_secret(api_client):
    created = _create(api_client).json()
    response = api_client.post(f"/api/v1/webhooks/{created['id']}/rotate-secret")
    assert response.status_code == 200
    assert response.json()["secret"].startswith("whsec_") and response.json()["secret"] != created["secret"]
    endpoint = WebhookEndpoint.objects.get(pk=created["id"])
    assert endpoint.previous_secret == created["secret"]
    assert endpoint.previous_secret_expires_at > timezone.now()


def test_event_types_list_every_type_with_a_schema(api_client):
    response = api_client.get("/api/v1/webhooks/event-types")
    assert response.status_code == 200
    listed = {item["type"]: item for item in response.json()}
    assert set(listed) == ALL_TYPES
    assert listed["message.received"]["data_schema"]["properties"]["media"]["properties"]["url"]


def test_send_a_test_event_then_see_the_delivery_and_its_attempts(api_client):
    with receiving(always(Reply(status=202, body=b"thanks"))) as receiver:
        endpoint_id = api_client.post("/api/v1/webhooks", {"url": receiver.url}, format="json").json()["id"]
        response = api_client.post(f"/api/v1/webhooks/{endpoint_id}/test")
        assert response.status_code == 202
        delivery_id = response.json()["id"]
        deliveries_drain(ids=[delivery_id])
        assert receiver.requests[0].headers["webhook-id"] == response.json()["webhook_id"]
    detail = api_client.get(f"/api/v1/deliveries/{delivery_id}").json()
    assert detail["status"] == "delivered" and detail["event_type"] == "webhook.test"
    assert detail["payload"]["data"]["endpoint_id"] == endpoint_id
    assert detail["attempts"][0]["status_code"] == 202
    assert detail["attempts"][0]["response_excerpt"] == "thanks"


def test_deliveries_filter_by_status_and_type(api_client, api_key):
    endpoint_id = _create(api_client).json()["id"]
    sent = event_emit(api_key_id=api_key.pk, event_type="message.sent", data={}).deliveries.get()
    event_emit(api_key_id=api_key.pk, event_type="message.read", data={})
    WebhookDelivery.objects.filter(pk=sent.pk).update(status=WebhookDelivery.Status.EXHAUSTED)
    base = f"/api/v1/webhooks/{endpoint_id}/deliveries"
    assert len(api_client.get(base).json()["results"]) == 2
    assert [d["id"] for d in api_client.get(f"{base}?status=exhausted").json()["results"]] == [sent.pk]
    assert [d["event_type"] for d in api_client.get(f"{base}?type=message.read").json()["results"]] == ["message.read"]
    assert api_client.get(f"{base}?status=lost").status_code == 400
    assert api_client.get(f"{base}?type=nope").status_code == 400


def test_replay_one_delivery_keeps_its_webhook_id(api_client, api_key):
    endpoint_id = _create(api_client).json()["id"]
    delivery = event_emit(api_key_id=api_key.pk, event_type="message.sent", data={}).deliveries.get()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=WebhookDelivery.Status.EXHAUSTED, retry_step=7, next_attempt_at=None
    )
    response = api_client.post(f"/api/v1/deliveries/{delivery.pk}/replay")
    assert response.status_code == 202
    assert response.json()["status"] == "pending" and response.json()["webhook_id"] == delivery.message_id
    delivery.refresh_from_db()
    assert delivery.retry_step == 0 and delivery.next_attempt_at <= timezone.now()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status=WebhookDelivery.Status.SENDING)
    assert api_client.post(f"/api/v1/deliveries/{delivery.pk}/replay").status_code == 409
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status=WebhookDelivery.Status.DELIVERED)
    WebhookEndpoint.objects.filter(pk=endpoint_id).update(enabled=False, disabled_reason="gone")
    assert api_client.post(f"/api/v1/deliveries/{delivery.pk}/replay").status_code == 409


def test_replay_since_replays_failed_and_exhausted_only(api_client, api_key):
    endpoint_id = _create(api_client).json()["id"]
    rows = [event_emit(api_key_id=api_key.pk, event_type="message.sent", data={}).deliveries.get() for _ in range(4)]
    statuses = ["failed", "exhausted", "delivered", "exhausted"]
    for row, status in zip(rows, statuses, strict=True):
        WebhookDelivery.objects.filter(pk=row.pk).update(status=status)
    WebhookDelivery.objects.filter(pk=rows[3].pk).update(created_at=timezone.now() - timedelta(days=2))
    since = (timezone.now() - timedelta(hours=1)).isoformat()
    response = api_client.post(f"/api/v1/webhooks/{endpoint_id}/replay", {"since": since}, format="json")
    assert response.status_code == 202 and response.json() == {"replayed": 2}
    now_statuses = dict(WebhookDelivery.objects.values_list("pk", "status"))
    assert [now_statuses[row.pk] for row in rows] == ["pending", "pending", "delivered", "exhausted"]
    assert api_client.post(f"/api/v1/webhooks/{endpoint_id}/replay", {}, format="json").status_code == 400


def test_another_keys_endpoints_and_deliveries_answer_404(api_client, other_api_client, api_key):
    endpoint_id = _create(api_client).json()["id"]
    delivery_id = event_emit(api_key_id=api_key.pk, event_type="message.sent", data={}).deliveries.get().pk
    missing = api_client.get("/api/v1/webhooks/999999").json()
    since = {"since": timezone.now().isoformat()}
    calls = [
        ("get", f"/api/v1/webhooks/{endpoint_id}", None),
        ("patch", f"/api/v1/webhooks/{endpoint_id}", {"description": "mine now"}),
        ("delete", f"/api/v1/webhooks/{endpoint_id}", None),
        ("post", f"/api/v1/webhooks/{endpoint_id}/rotate-secret", None),
        ("post", f"/api/v1/webhooks/{endpoint_id}/test", None),
        ("post", f"/api/v1/webhooks/{endpoint_id}/replay", since),
        ("get", f"/api/v1/webhooks/{endpoint_id}/deliveries", None),
        ("get", f"/api/v1/deliveries/{delivery_id}", None),
        ("post", f"/api/v1/deliveries/{delivery_id}/replay", None),
    ]
    for method, path, body in calls:
        response = getattr(other_api_client, method)(path, body, format="json")
        assert response.status_code == 404, (method, path)
        assert response.json() == missing
    assert other_api_client.get("/api/v1/webhooks").json()["results"] == []
    endpoint = WebhookEndpoint.objects.get(pk=endpoint_id)
    assert endpoint.description == "" and endpoint.enabled
    assert WebhookDelivery.objects.get(pk=delivery_id).status == "pending"


def test_a_change_keeps_a_rotation_and_an_auto_disable_committed_since_the_endpoint_was_read(api_key):
    endpoint = EndpointFactory(api_key=api_key)
    stale = WebhookEndpoint.objects.get(pk=endpoint.pk)
    new_secret = endpoint_rotate_secret(endpoint=WebhookEndpoint.objects.get(pk=endpoint.pk))
    endpoint_disable(endpoint_id=endpoint.pk, reason="failing for 5 days")
    updated = endpoint_update(endpoint=stale, description="renamed")
    fresh = WebhookEndpoint.objects.get(pk=endpoint.pk)
    assert fresh.description == "renamed"
    assert fresh.secret == new_secret and fresh.previous_secret, "the rotation is not undone"
    assert not fresh.enabled and fresh.disabled_reason == "failing for 5 days", "the auto-disable is not undone"
    assert updated.secret == new_secret and not updated.enabled, "the caller gets the row as it now is"
