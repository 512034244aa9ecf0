"""The connections API: create/list/get/delete, lifecycle actions, QR, timeline, ownership and bad input."""

from __future__ import annotations

import base64
import io
from datetime import timedelta

import pytest
from django.utils import timezone
from PIL import Image

from accounts import services
from accounts.models import ConnectionEvent, SandboxCredential, SessionCommand, WaConnection
from accounts.session_commands import session_command_claim, session_command_finish
from tests.accounts.factories import ConnectionFactory, SandboxCredentialFactory

pytestmark = pytest.mark.django_db
BASE = "/api/v1/connections"


@pytest.fixture(autouse=True)
def no_waiting(settings):
    # Nothing runs the sessions in these tests: answer 202 at once instead of waiting for a session.
    settings.WILDCAT_COMMAND_WAIT_SECONDS = 0


def _mine(api_key, **fields) -> WaConnection:
    return ConnectionFactory(api_key=api_key, **fields)


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    return body["error"]


def test_create_list_get(api_client, api_key):
    response = api_client.post(BASE, {"name": "shop", "driver": "sandbox"}, format="json")
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["name"] == "shop" and created["driver"] == "sandbox"
    assert created["status"] == "not_started" and created["desired_state"] == "stopped"
    assert created["qr_available"] is False and created["account"]["phone_number"] == ""
    listed = api_client.get(BASE).json()
    assert [c["id"] for c in listed["results"]] == [created["id"]]
    assert api_client.get(f"{BASE}/{created['id']}").json()["id"] == created["id"]
    assert ConnectionEvent.objects.filter(connection_id=created["id"]).count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "driver": "telegram"}, "driver"),
        ({"name": "x" * 101, "driver": "sandbox"}, "name"),
        ({"name": "", "driver": "sandbox"}, "name"),
        ({"driver": "sandbox"}, "name"),
        ({"name": "x"}, "driver"),
    ],
)
def test_bad_create_input_is_400_and_creates_nothing(api_client, body, field):
    error = _error(api_client.post(BASE, body, format="json"), 400)
    assert field in error["details"]
    assert not WaConnection.objects.exists()


def test_duplicate_name_and_the_per_key_limit(api_client, api_key, settings):
    settings.WILDCAT_MAX_CONNECTIONS_PER_KEY = 2
    assert api_client.post(BASE, {"name": "a", "driver": "sandbox"}, format="json").status_code == 201
    duplicate = _error(api_client.post(BASE, {"name": "a", "driver": "neonize"}, format="json"), 409)
    assert duplicate["code"] == "name_taken"
    assert api_client.post(BASE, {"name": "b", "driver": "neonize"}, format="json").status_code == 201
    over = _error(api_client.post(BASE, {"name": "c", "driver": "sandbox"}, format="json"), 400)
    assert over["code"] == "limit_exceeded"
    assert WaConnection.objects.count() == 2


def test_another_keys_connection_is_404_everywhere(api_client, other_api_client, api_key):
    connection = _mine(api_key)
    SandboxCredentialFactory(connection=connection)
    WaConnection.objects.filter(pk=connection.pk).update(status="ready", desired_state="running")
    paths = ["", "/qr", "/qr.png", "/events"]
    for suffix in paths:
        _error(other_api_client.get(f"{BASE}/{connection.pk}{suffix}"), 404)
    actions = ["start", "stop", "restart", "logout", "pair-code", "sandbox/scan", "sandbox/inject/logout"]
    for action in actions:
        _error(
            other_api_client.post(f"{BASE}/{connection.pk}/{action}", {"phone": "+4915112345678"}, format="json"), 404
        )
    _error(other_api_client.delete(f"{BASE}/{connection.pk}"), 404)
    assert other_api_client.get(BASE).json()["results"] == []
    assert WaConnection.objects.filter(pk=connection.pk, status="ready").exists()
    assert not SessionCommand.objects.exists()


def test_unauthenticated_is_401(db):
    from rest_framework.test import APIClient

    assert APIClient().get(BASE).status_code == 401


def test_start_and_stop_and_their_wrong_states(api_client, api_key):
    connection = _mine(api_key)
    started = api_client.post(f"{BASE}/{connection.pk}/start")
    assert started.status_code == 200, started.content
    assert started.json()["connection"]["desired_state"] == "running"
    assert _error(api_client.post(f"{BASE}/{connection.pk}/start"), 409)["code"] == "invalid_state"
    services.connection_qr_issue(connection_id=connection.pk, qr="2@a,b,c,d", expires_in=60)
    stopped = api_client.post(f"{BASE}/{connection.pk}/stop").json()["connection"]
    assert stopped["desired_state"] == "stopped" and stopped["status"] == "not_started"
    assert stopped["qr_available"] is False
    assert _error(api_client.post(f"{BASE}/{connection.pk}/stop"), 409)["code"] == "invalid_state"


def test_qr_json_and_png(api_client, api_key):
    connection = _mine(api_key, desired_state="running")
    assert _error(api_client.get(f"{BASE}/{connection.pk}/qr"), 409)["code"] == "no_qr"
    assert _error(api_client.get(f"{BASE}/{connection.pk}/qr.png"), 409)["code"] == "no_qr"
    qr = "2@Zm9vYmFy,bm9pc2U=,aWRlbnRpdHk=,YWR2"
    services.connection_qr_issue(connection_id=connection.pk, qr=qr, expires_in=60)
    body = api_client.get(f"{BASE}/{connection.pk}/qr").json()
    assert body["qr"] == qr and body["expires_at"]
    assert body["png"].startswith("data:image/png;base64,")
    image = Image.open(io.BytesIO(base64.b64decode(body["png"].split(",", 1)[1])))
    assert image.format == "PNG" and image.size[0] == image.size[1] > 100
    png = api_client.get(f"{BASE}/{connection.pk}/qr.png", HTTP_ACCEPT="image/png")
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    assert png.content.startswith(b"\x89PNG") and png["Cache-Control"] == "no-store"
    assert api_client.get(f"{BASE}/{connection.pk}").json()["qr_available"] is True
    WaConnection.objects.filter(pk=connection.pk).update(qr_expires_at=timezone.now() - timedelta(seconds=1))
    assert _error(api_client.get(f"{BASE}/{connection.pk}/qr"), 409)["code"] == "no_qr"
    expired_png = api_client.get(f"{BASE}/{connection.pk}/qr.png", HTTP_ACCEPT="image/png")
    assert expired_png.status_code == 409 and expired_png.json()["error"]["code"] == "no_qr"


@pytest.mark.parametrize("phone", ["12345", "not a phone", "+99912345678", "", "+4915112345678901234"])
def test_pair_code_rejects_bad_phones(api_client, api_key, phone):
    connection = _mine(api_key, desired_state="running", status="pending")
    error = _error(api_client.post(f"{BASE}/{connection.pk}/pair-code", {"phone": phone}, format="json"), 400)
    assert "phone" in error["details"]
    assert not SessionCommand.objects.exists()


@pytest.mark.parametrize("phone", ["4915112345678", "+49 (151) 123-45678"])
def test_pair_code_takes_the_same_numbers_as_sends(api_client, api_key, phone):
    connection = _mine(api_key, desired_state="running", status="pending")
    response = api_client.post(f"{BASE}/{connection.pk}/pair-code", {"phone": phone}, format="json")
    assert response.status_code == 202, response.content
    assert SessionCommand.objects.get(connection=connection).payload == {"phone": "+4915112345678"}


@pytest.mark.parametrize("phone", ["015112345678", "12345", ""])
def test_a_bad_pairing_phone_is_told_the_format_with_an_example(api_client, api_key, phone):
    connection = _mine(api_key, desired_state="running", status="pending")
    response = api_client.post(f"{BASE}/{connection.pk}/pair-code", {"phone": phone}, format="json")
    (problem,) = _error(response, 400)["details"]["phone"]
    assert "international format" in problem and "e.g. +4915112345678" in problem, problem
    assert "plus-sign" not in response.content.decode()


def test_pair_code_state_and_queueing(api_client, api_key):
    connection = _mine(api_key)
    url = f"{BASE}/{connection.pk}/pair-code"
    assert _error(api_client.post(url, {"phone": "+4915112345678"}, format="json"), 409)["code"] == "invalid_state"
    WaConnection.objects.filter(pk=connection.pk).update(desired_state="running", status="pending")
    response = api_client.post(url, {"phone": "+49 151 12345678"}, format="json")
    assert response.status_code == 202, response.content
    command = SessionCommand.objects.get(pk=response.json()["command"]["id"])
    assert command.kind == "pair_code" and command.payload == {"phone": "+4915112345678"}
    assert response.json()["result"] is None


def test_restart_needs_a_running_connection(api_client, api_key):
    connection = _mine(api_key)
    assert _error(api_client.post(f"{BASE}/{connection.pk}/restart"), 409)["code"] == "invalid_state"
    WaConnection.objects.filter(pk=connection.pk).update(desired_state="running", status="ready")
    response = api_client.post(f"{BASE}/{connection.pk}/restart")
    assert response.status_code == 202 and response.json()["command"]["kind"] == "restart"
    assert ConnectionEvent.objects.filter(connection=connection, kind="restart").count() == 1


def test_logout_without_an_owner_is_immediate_for_the_sandbox(api_client, api_key):
    connection = _mine(api_key)
    assert _error(api_client.post(f"{BASE}/{connection.pk}/logout"), 409)["code"] == "invalid_state"
    SandboxCredentialFactory(connection=connection)
    WaConnection.objects.filter(pk=connection.pk).update(desired_state="running", status="ready")
    response = api_client.post(f"{BASE}/{connection.pk}/logout")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["command"] is None
    assert body["connection"]["status"] == "logged_out" and body["connection"]["desired_state"] == "stopped"
    assert not SandboxCredential.objects.filter(connection=connection).exists()


def test_logout_with_a_live_owner_goes_through_a_command(api_client, api_key):
    connection = _mine(api_key, desired_state="running", status="ready", lease_owner="node:1:a")
    WaConnection.objects.filter(pk=connection.pk).update(lease_expires_at=timezone.now() + timedelta(seconds=30))
    response = api_client.post(f"{BASE}/{connection.pk}/logout")
    assert response.status_code == 202, response.content
    assert response.json()["command"]["kind"] == "logout"
    assert WaConnection.objects.get(pk=connection.pk).status == "ready", "the owner logs out, not the web"


def test_logout_of_an_unowned_neonize_connection_starts_it_to_log_out(api_client, api_key):
    connection = _mine(api_key, driver="neonize", status="disconnected")
    response = api_client.post(f"{BASE}/{connection.pk}/logout")
    assert response.status_code == 202
    row = WaConnection.objects.get(pk=connection.pk)
    assert row.desired_state == "running" and row.connection_step == "logging_out"
    assert SessionCommand.objects.get(connection=connection).kind == "logout"


def test_events_are_cursor_paginated_newest_first(api_client, api_key):
    connection = _mine(api_key)
    for index in range(5):
        services.connection_record_event(connection_id=connection.pk, kind="restart", detail={"n": index})
    first = api_client.get(f"{BASE}/{connection.pk}/events?page_size=3").json()
    assert [e["detail"]["n"] for e in first["results"]] == [4, 3, 2]
    second = api_client.get(first["next"]).json()
    assert [e["detail"].get("n") for e in second["results"]] == [1, 0]


def test_delete_removes_the_connection_and_its_session_data(api_client, api_key):
    connection = _mine(api_key, status="ready")
    SandboxCredentialFactory(connection=connection)
    assert api_client.delete(f"{BASE}/{connection.pk}").status_code == 204
    assert not WaConnection.objects.filter(pk=connection.pk).exists()
    assert not SandboxCredential.objects.exists() and not ConnectionEvent.objects.exists()
    _error(api_client.get(f"{BASE}/{connection.pk}"), 404)


def test_sandbox_endpoints_only_exist_for_sandbox_connections(api_client, api_key):
    neonize = _mine(api_key, driver="neonize", desired_state="running", status="pending")
    for op in ["scan", "inject/message", "inject/disconnect", "inject/logout", "inject/ban"]:
        _error(api_client.post(f"{BASE}/{neonize.pk}/sandbox/{op}", {"sender": "+4915112345678", "text": "x"}), 404)
    assert not SessionCommand.objects.exists()


def test_sandbox_actions_in_the_wrong_state_are_409(api_client, api_key):
    connection = _mine(api_key, desired_state="running", status="pending")
    inject = f"{BASE}/{connection.pk}/sandbox/inject/message"
    error = _error(api_client.post(inject, {"sender": "+4915112345678", "text": "hi"}, format="json"), 409)
    assert "pending" in error["message"]
    WaConnection.objects.filter(pk=connection.pk).update(status="ready")
    assert _error(api_client.post(f"{BASE}/{connection.pk}/sandbox/scan"), 409)["code"] == "invalid_state"
    assert not SessionCommand.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"sender": "12", "text": "x"}, "sender"),
        ({"sender": "+4915112345678", "type": "image", "media_base64": "***"}, "media_base64"),
        ({"sender": "+4915112345678", "type": "hologram", "text": "x"}, "type"),
        ({"sender": "+4915112345678"}, "text"),
        ({"sender": "+4915112345678", "text": "x", "group_jid": "nope"}, "group_jid"),
    ],
)
def test_inject_message_validates_its_input(api_client, api_key, body, field):
    connection = _mine(api_key, desired_state="running", status="ready")
    error = _error(api_client.post(f"{BASE}/{connection.pk}/sandbox/inject/message", body, format="json"), 400)
    assert field in error["details"]
    assert not SessionCommand.objects.exists()


def test_inject_message_queues_a_call_for_the_session(api_client, api_key):
    connection = _mine(api_key, desired_state="running", status="ready")
    media = base64.b64encode(b"%PDF-1.4 tiny").decode()
    body = {"sender": "+4915112345678", "type": "document", "media_base64": media, "filename": "a.pdf"}
    response = api_client.post(f"{BASE}/{connection.pk}/sandbox/inject/message", body, format="json")
    assert response.status_code == 202, response.content
    payload = SessionCommand.objects.get().payload
    assert payload["op"] == "inject_message" and payload["args"]["media_base64"] == media
    assert payload["args"]["filename"] == "a.pdf" and payload["args"]["type"] == "document"


def test_schema_documents_every_connection_endpoint(api_client):
    response = api_client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    expected = [
        "/api/v1/connections",
        "/api/v1/connections/{connection_id}",
        "/api/v1/connections/{connection_id}/qr",
        "/api/v1/connections/{connection_id}/qr.png",
        "/api/v1/connections/{connection_id}/pair-code",
        "/api/v1/connections/{connection_id}/events",
        "/api/v1/connections/{connection_id}/sandbox/inject/ban",
    ]
    for path in expected:
        assert path in paths, path
    png = paths["/api/v1/connections/{connection_id}/qr.png"]["get"]["responses"]["200"]["content"]
    assert "image/png" in png
    assert "202" in paths["/api/v1/connections/{connection_id}/pair-code"]["post"]["responses"]


def test_ids_the_database_cannot_hold_are_404(api_client):
    for suffix in ["", "/qr", "/events"]:
        _error(api_client.get(f"{BASE}/{2**70}{suffix}"), 404)
    _error(api_client.post(f"{BASE}/{2**64}/start"), 404)


def test_invalid_cursor_and_page_size_are_400(api_client):
    assert "cursor" in _error(api_client.get(f"{BASE}?cursor=garbage"), 400)["details"]
    assert "page_size" in _error(api_client.get(f"{BASE}?page_size=0"), 400)["details"]


def test_null_characters_in_injected_content_are_400(api_client, api_key):
    connection = _mine(api_key, desired_state="running", status="ready")
    body = {"sender": "+4915112345678", "type": "location", "content": {"name": "a\u0000b"}}
    error = _error(api_client.post(f"{BASE}/{connection.pk}/sandbox/inject/message", body, format="json"), 400)
    assert "content" in error["details"]


def test_delete_of_a_linked_neonize_connection_logs_out_through_its_session_first(api_client, api_key):
    connection = _mine(api_key, driver="neonize", status="disconnected")
    response = api_client.delete(f"{BASE}/{connection.pk}")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["connection"]["step"] == "deleting" and body["connection"]["desired_state"] == "running"
    command = SessionCommand.objects.get(pk=body["command"]["id"])
    assert command.kind == "logout" and command.payload == {"delete": True}
    # Asking again does not queue a second logout.
    assert api_client.delete(f"{BASE}/{connection.pk}").json()["command"]["id"] == command.pk
    # The session tries to log out (here: it fails); either way the connection goes.
    session_command_claim(connection_id=connection.pk)
    session_command_finish(command_id=command.pk, error="not_logged_in: gone already")
    assert not WaConnection.objects.filter(pk=connection.pk).exists()
    _error(api_client.get(f"{BASE}/{connection.pk}"), 404)
