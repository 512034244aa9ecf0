"""Each audited action leaves one entry saying who did what to which object, from which address."""

from __future__ import annotations

import time

import pytest
from rest_framework.test import APIClient

from apikeys.models import ApiKey
from wildcat.models import AuditEntry

pytestmark = pytest.mark.django_db


def _entries(action: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action).order_by("id"))


@pytest.fixture
def client_from(api_key_and_secret):
    def make(ip: str) -> APIClient:
        client = APIClient(REMOTE_ADDR=ip)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_and_secret[1]}")
        return client

    return make


def test_key_created_and_revoked(django_user_model):
    from apikeys.services import apikey_create, apikey_revoke

    operator = django_user_model.objects.create_user("operator", password="x" * 20)
    api_key, _ = apikey_create(label="audited", created_by=operator)
    [created] = _entries("apikey.created")
    assert (created.actor_user_id, created.target_type, created.target_id) == (operator.pk, "apikey", str(api_key.pk))
    assert created.detail["label"] == "audited"
    apikey_revoke(api_key=api_key)
    apikey_revoke(api_key=api_key)  # already revoked: nothing more to record
    [revoked] = _entries("apikey.revoked")
    assert revoked.target_id == str(api_key.pk)


def test_key_created_in_the_admin_records_the_admin_and_address(admin_client):
    response = admin_client.post("/admin/apikeys/apikey/add/", {"label": "from-admin"}, REMOTE_ADDR="192.0.2.44")
    assert response.status_code == 302
    [created] = _entries("apikey.created")
    assert created.actor_user_id is not None and created.ip == "192.0.2.44"


def test_key_used_from_a_new_ip(settings, api_key, client_from):
    # Through the file cache in the embedded pass, through Redis in the production pass.
    settings.WILDCAT_API_LAST_USED_SECONDS = 1  # the last-use write happens at most this often

    def use_from(ip: str) -> None:
        # Poll: the next request after the interval is the one that records the address.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert client_from(ip).get("/api/v1/me").status_code == 200
            api_key.refresh_from_db()
            if api_key.last_used_ip == ip:
                return
            time.sleep(0.2)
        raise AssertionError(f"last_used_ip never became {ip}")

    def written_again_from(ip: str) -> None:
        """Poll until the next last-use write (after the interval) lands, from an address already seen."""
        before = ApiKey.objects.get(pk=api_key.pk).last_used_at
        deadline = time.monotonic() + 10
        while ApiKey.objects.get(pk=api_key.pk).last_used_at == before:
            assert time.monotonic() < deadline, "no last-use write after the interval"
            assert client_from(ip).get("/api/v1/me").status_code == 200
            time.sleep(0.1)
        assert ApiKey.objects.get(pk=api_key.pk).last_used_ip == ip

    use_from("198.51.100.1")
    use_from("198.51.100.2")
    written_again_from("198.51.100.2")  # same address again: written, but no new entry
    entries = _entries("apikey.new_ip")
    assert [(e.ip, e.detail.get("previous_ip")) for e in entries] == [
        ("198.51.100.1", None),
        ("198.51.100.2", "198.51.100.1"),
    ]
    assert {e.actor_key_id for e in entries} == {api_key.pk}


def test_connection_created_logged_out_and_deleted(api_key, client_from, settings):
    settings.WILDCAT_COMMAND_WAIT_SECONDS = 0.2
    client = client_from("203.0.113.5")
    created = client.post("/api/v1/connections", {"name": "audited", "driver": "sandbox"}, format="json")
    assert created.status_code == 201
    connection_id = created.json()["id"]
    [entry] = _entries("connection.created")
    assert (entry.actor_key_id, entry.target_type, entry.target_id) == (api_key.pk, "connection", str(connection_id))
    assert entry.ip == "203.0.113.5"

    from accounts import services
    from wildcat.whatsapp import AccountInfo

    services.connection_transition(
        connection_id=connection_id, to_status="authenticated", account=AccountInfo(whatsapp_id="1555@s.whatsapp.net")
    )
    assert client.post(f"/api/v1/connections/{connection_id}/logout").status_code == 200
    [logout] = _entries("connection.logout")
    assert (logout.actor_key_id, logout.target_id, logout.ip) == (api_key.pk, str(connection_id), "203.0.113.5")
    [logged_out] = _entries("connection.logged_out")
    assert logged_out.target_id == str(connection_id)

    assert client.delete(f"/api/v1/connections/{connection_id}").status_code == 204
    [deleted] = _entries("connection.deleted")
    assert (deleted.actor_key_id, deleted.target_id) == (api_key.pk, str(connection_id))
    assert deleted.detail["name"] == "audited"


def test_webhook_created_rotated_and_deleted(api_key, client_from, settings):
    settings.WILDCAT_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    client = client_from("203.0.113.6")
    created = client.post("/api/v1/webhooks", {"url": "http://127.0.0.1:9/hook"}, format="json")
    assert created.status_code == 201
    endpoint_id = str(created.json()["id"])
    assert client.post(f"/api/v1/webhooks/{endpoint_id}/rotate-secret").status_code == 200
    assert client.delete(f"/api/v1/webhooks/{endpoint_id}").status_code == 204
    actions = ["webhook.created", "webhook.secret_rotated", "webhook.deleted"]
    entries = list(AuditEntry.objects.filter(action__in=actions).order_by("id"))
    assert [(e.action, e.target_type, e.target_id, e.actor_key_id, e.actor_user_id, e.ip) for e in entries] == [
        (action, "webhook", endpoint_id, api_key.pk, None, "203.0.113.6") for action in actions
    ]
    assert entries[0].detail["url"] == "http://127.0.0.1:9/hook"
    # The secret itself never reaches the audit log.
    assert "whsec_" not in str([e.detail for e in entries])


def test_admin_deletions_are_recorded_with_the_admin(admin_client, admin_user, api_key, settings):
    """The admin's delete page and its bulk "delete selected" go through the services too."""
    from accounts.services import connection_create
    from webhooks.services import endpoint_create

    settings.WILDCAT_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    connections = [connection_create(api_key_id=api_key.pk, name=f"admin-{n}") for n in range(2)]
    endpoints = [endpoint_create(api_key_id=api_key.pk, url=f"http://127.0.0.1:9/{n}")[0] for n in range(2)]
    AuditEntry.objects.all().delete()
    for model, first, second in (
        ("accounts/waconnection", *connections),
        ("webhooks/webhookendpoint", *endpoints),
    ):
        single = admin_client.post(f"/admin/{model}/{first.pk}/delete/", {"post": "yes"})
        assert single.status_code == 302, model
        bulk = admin_client.post(
            f"/admin/{model}/", {"action": "delete_selected", "_selected_action": [second.pk], "post": "yes"}
        )
        assert bulk.status_code == 302, model
    entries = AuditEntry.objects.order_by("id")
    assert [(e.action, e.target_id) for e in entries] == [
        ("connection.deleted", str(connections[0].pk)),
        ("connection.deleted", str(connections[1].pk)),
        ("webhook.deleted", str(endpoints[0].pk)),
        ("webhook.deleted", str(endpoints[1].pk)),
    ]
    assert {e.actor_user_id for e in entries} == {admin_user.pk}
