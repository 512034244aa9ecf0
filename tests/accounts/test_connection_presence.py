"""A connection's presence setting: chosen on create, changed later through the API or the admin."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import SessionCommand, WaConnection
from tests.accounts.factories import ConnectionFactory

pytestmark = pytest.mark.django_db
BASE = "/api/v1/connections"


def test_presence_defaults_to_unavailable_and_can_be_chosen_on_create(api_client):
    default = api_client.post(BASE, {"name": "quiet", "driver": "neonize"}, format="json")
    online = api_client.post(BASE, {"name": "online", "driver": "neonize", "presence": "available"}, format="json")
    assert (default.status_code, online.status_code) == (201, 201)
    assert (default.json()["presence"], online.json()["presence"]) == ("unavailable", "available")
    assert WaConnection.objects.get(pk=online.json()["id"]).presence == "available"
    bad = api_client.post(BASE, {"name": "x", "driver": "neonize", "presence": "busy"}, format="json")
    assert bad.status_code == 400 and "presence" in bad.json()["error"]["details"]


def test_patch_changes_presence_and_a_running_session_applies_it(api_client, api_key):
    running = ConnectionFactory(running=True, api_key=api_key, driver=WaConnection.Driver.NEONIZE)
    response = api_client.patch(f"{BASE}/{running.pk}", {"presence": "available"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["presence"] == "available"
    command = SessionCommand.objects.get(connection=running)
    assert (command.kind, command.payload) == ("call", {"op": "presence_apply", "args": {}})
    again = api_client.patch(f"{BASE}/{running.pk}", {"presence": "available"}, format="json")
    assert again.status_code == 200 and SessionCommand.objects.filter(connection=running).count() == 1
    stopped = ConnectionFactory(api_key=api_key, driver=WaConnection.Driver.NEONIZE)
    api_client.patch(f"{BASE}/{stopped.pk}", {"presence": "available"}, format="json")
    assert WaConnection.objects.get(pk=stopped.pk).presence == "available"
    assert not SessionCommand.objects.filter(connection=stopped).exists(), "it is sent when the session connects"


@pytest.mark.parametrize(
    ("body", "field"),
    [({"presence": "busy"}, "presence"), ({"name": "renamed"}, "name"), ({}, "presence")],
)
def test_patch_refuses_bad_input_and_changes_nothing(api_client, api_key, body, field):
    connection = ConnectionFactory(api_key=api_key)
    response = api_client.patch(f"{BASE}/{connection.pk}", body, format="json")
    assert response.status_code == 400 and field in response.json()["error"]["details"]
    assert WaConnection.objects.get(pk=connection.pk).presence == "unavailable"


def test_another_keys_connection_cannot_be_changed(other_api_client, api_key):
    connection = ConnectionFactory(api_key=api_key)
    response = other_api_client.patch(f"{BASE}/{connection.pk}", {"presence": "available"}, format="json")
    assert response.status_code == 404
    assert WaConnection.objects.get(pk=connection.pk).presence == "unavailable"


def test_the_schema_documents_presence(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    detail = schema["paths"]["/api/v1/connections/{connection_id}"]
    assert "patch" in detail
    presence = schema["components"]["schemas"]["Connection"]["properties"]["presence"]
    assert presence["allOf"] == [{"$ref": "#/components/schemas/ConnectionPresenceEnum"}]
    assert schema["components"]["schemas"]["ConnectionPresenceEnum"]["enum"] == ["available", "unavailable"]
    update = schema["components"]["schemas"]["PatchedConnectionUpdateRequest"]["properties"]["presence"]
    assert "keeps the phone's notifications" in update["description"]


def test_the_admin_shows_presence_sets_it_on_create_and_changes_it_in_bulk(admin_client, api_key):
    url = reverse("admin:accounts_waconnection_add")
    created = admin_client.post(
        url, {"api_key": api_key.pk, "name": "desk", "driver": "neonize", "presence": "available"}
    )
    assert created.status_code == 302, created.content
    connection = WaConnection.objects.get(name="desk")
    assert connection.presence == "available"
    page = admin_client.get(reverse("admin:accounts_waconnection_change", args=[connection.pk])).content.decode()
    assert "Available (online" in page
    other = ConnectionFactory(api_key=api_key, presence="available")
    changelist = reverse("admin:accounts_waconnection_changelist")
    response = admin_client.post(
        changelist, {"action": "presence_unavailable", "_selected_action": [connection.pk, other.pk]}
    )
    assert response.status_code == 302
    assert set(WaConnection.objects.values_list("presence", flat=True)) == {"unavailable"}
