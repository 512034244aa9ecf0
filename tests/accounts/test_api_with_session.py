"""API calls that wait for the session's answer, answered by the production session host run in-process."""

from __future__ import annotations

import time

import pytest

from accounts.models import ConnectionEvent, SandboxCredential, SessionCommand, WaConnection
from tests.support.inprocess_host import InProcessHost, lease_for_the_test
from tests.support.processes import wait_until

pytestmark = pytest.mark.django_db(transaction=True)
BASE = "/api/v1/connections"


@pytest.fixture(autouse=True)
def fast(settings):
    settings.WILDCAT_COMMAND_WAIT_SECONDS = 20
    settings.WILDCAT_COMMAND_POLL_SECONDS = 0.02
    settings.WILDCAT_SANDBOX_CONNECT_SECONDS = 0.05
    settings.WILDCAT_SANDBOX_DELIVERED_SECONDS = 0.05
    settings.WILDCAT_SANDBOX_READ_SECONDS = 0.1


def _row(connection_id: int) -> WaConnection:
    return WaConnection.objects.get(pk=connection_id)


def test_create_start_qr_scan_ready_inject_logout(api_client):
    created = api_client.post(BASE, {"name": "live", "driver": "sandbox"}, format="json").json()
    cid = created["id"]
    assert api_client.post(f"{BASE}/{cid}/start").status_code == 200
    lease_for_the_test(cid)
    with InProcessHost(cid) as host:
        wait_until(lambda: _row(cid).status == "pending", timeout=30, message="a QR code")
        qr = api_client.get(f"{BASE}/{cid}/qr").json()
        assert qr["qr"].startswith("2@")
        scan = api_client.post(f"{BASE}/{cid}/sandbox/scan", {"profile_name": "Shop"}, format="json")
        assert scan.status_code == 200, scan.content
        assert scan.json()["result"]["profile_name"] == "Shop"
        ready = wait_until(lambda: (r := _row(cid)).status == "ready" and r, timeout=30, message="ready")
        assert ready.phone_number == scan.json()["result"]["phone_number"] and ready.profile_name == "Shop"
        assert api_client.get(f"{BASE}/{cid}/qr").status_code == 409

        inject = api_client.post(
            f"{BASE}/{cid}/sandbox/inject/message", {"sender": "+4915112345678", "text": "hi"}, format="json"
        )
        assert inject.status_code == 200, inject.content
        assert inject.json()["result"]["chat_jid"] == "4915112345678@s.whatsapp.net"

        logout = api_client.post(f"{BASE}/{cid}/logout")
        assert logout.status_code == 200, logout.content
        assert logout.json()["command"]["status"] == "done"
        out = wait_until(lambda: (r := _row(cid)).status == "logged_out" and r, timeout=30, message="logged out")
        assert out.desired_state == "stopped"
        assert not SandboxCredential.objects.filter(connection_id=cid).exists()
        assert not host.failures()
    statuses = list(
        ConnectionEvent.objects.filter(connection_id=cid, kind="state")
        .order_by("id")
        .values_list("to_status", flat=True)
    )
    assert statuses == ["not_started", "pending", "authenticated", "ready", "logged_out"]


def test_pair_code_is_answered_by_the_session(api_client):
    cid = api_client.post(BASE, {"name": "pair", "driver": "sandbox"}, format="json").json()["id"]
    api_client.post(f"{BASE}/{cid}/start")
    lease_for_the_test(cid)
    with InProcessHost(cid):
        wait_until(lambda: _row(cid).status == "pending", timeout=30, message="a QR code")
        response = api_client.post(f"{BASE}/{cid}/pair-code", {"phone": "+49 151 12345678"}, format="json")
        assert response.status_code == 200, response.content
        code = response.json()["result"]["code"]
        assert len(code) == 8
        assert api_client.get(f"{BASE}/{cid}").json()["pair_code"] == code
        refused = api_client.post(f"{BASE}/{cid}/pair-code", {"phone": "+1 555 000 1234"}, format="json")
        # The sandbox's "not on WhatsApp" numbers (+1 555 000…) are not valid phone numbers either.
        assert refused.status_code == 400 and "phone" in refused.json()["error"]["details"]
        # A second code request while the first login is still pending is answered again by the session.
        again = api_client.post(f"{BASE}/{cid}/pair-code", {"phone": "+4915112345678"}, format="json")
        assert again.status_code == 200 and again.json()["result"]["code"] != ""


def test_inject_disconnect_and_ban_show_on_the_connection(api_client):
    cid = api_client.post(BASE, {"name": "net", "driver": "sandbox"}, format="json").json()["id"]
    api_client.post(f"{BASE}/{cid}/start")
    lease_for_the_test(cid)
    with InProcessHost(cid):
        wait_until(lambda: _row(cid).status == "pending", timeout=30, message="a QR code")
        api_client.post(f"{BASE}/{cid}/sandbox/scan")
        wait_until(lambda: _row(cid).status == "ready", timeout=30, message="ready")
        response = api_client.post(
            f"{BASE}/{cid}/sandbox/inject/disconnect", {"reason": "wifi", "reconnect_after": 60}, format="json"
        )
        assert response.status_code == 200, response.content
        gone = wait_until(lambda: (r := _row(cid)).status == "disconnected" and r, timeout=30, message="disconnect")
        assert gone.disconnect_reason == "wifi"
        # Banning needs a connected phone.
        assert api_client.post(f"{BASE}/{cid}/sandbox/inject/ban", {"seconds": 1}, format="json").status_code == 409
    started = time.monotonic()
    cid2 = api_client.post(BASE, {"name": "ban", "driver": "sandbox"}, format="json").json()["id"]
    api_client.post(f"{BASE}/{cid2}/start")
    lease_for_the_test(cid2)
    with InProcessHost(cid2):
        wait_until(lambda: _row(cid2).status == "pending", timeout=30, message="a QR code")
        api_client.post(f"{BASE}/{cid2}/sandbox/scan")
        wait_until(lambda: _row(cid2).status == "ready", timeout=30, message="ready")
        ban = api_client.post(f"{BASE}/{cid2}/sandbox/inject/ban", {"seconds": 0.3, "code": 103}, format="json")
        assert ban.status_code == 200, ban.content
        wait_until(lambda: "103" in _row(cid2).error, timeout=30, message="ban recorded")
        back = wait_until(lambda: (r := _row(cid2)).status == "ready" and r, timeout=30, message="back after ban")
        assert back.error == ""
    assert time.monotonic() - started < 60


def test_a_call_the_phone_cannot_take_yet_is_retried_not_refused(api_client, settings):
    """A transient driver error (the phone is still showing its QR code) sends the command back to wait."""
    settings.WILDCAT_COMMAND_WAIT_SECONDS = 1
    cid = api_client.post(BASE, {"name": "odd", "driver": "sandbox"}, format="json").json()["id"]
    api_client.post(f"{BASE}/{cid}/start")
    lease_for_the_test(cid)
    with InProcessHost(cid):
        wait_until(lambda: _row(cid).status == "pending", timeout=30, message="a QR code")
        # The database believes the session is ready, but the phone is still showing its QR code.
        WaConnection.objects.filter(pk=cid).update(status="ready")
        response = api_client.post(
            f"{BASE}/{cid}/sandbox/inject/message", {"sender": "+4915112345678", "text": "hi"}, format="json"
        )
        assert response.status_code == 202, response.content
        command = wait_until(
            lambda: (
                (c := SessionCommand.objects.get(pk=response.json()["command"]["id"])).attempts >= 1
                and c.status == "pending"
                and c
            ),
            timeout=30,
            message="the host tried the command once and put it back",
        )
        assert "not_connected" in command.error


def test_a_failing_session_call_is_409_with_the_reason(api_client):
    cid = api_client.post(BASE, {"name": "odd", "driver": "sandbox"}, format="json").json()["id"]
    api_client.post(f"{BASE}/{cid}/start")
    lease_for_the_test(cid)
    with InProcessHost(cid):
        wait_until(lambda: _row(cid).status == "pending", timeout=30, message="a QR code")
        # The database believes the session is ready, but the phone was never linked: unlinking it from
        # the phone's side is refused for good (a permanent driver error), so the call fails at once.
        WaConnection.objects.filter(pk=cid).update(status="ready")
        response = api_client.post(f"{BASE}/{cid}/sandbox/inject/logout")
    assert response.status_code == 409, response.content
    error = response.json()["error"]
    assert error["code"] == "session_error" and "not_logged_in" in error["message"]


def test_delete_with_an_owner_logs_out_then_deletes(api_client):
    cid = api_client.post(BASE, {"name": "bye", "driver": "sandbox"}, format="json").json()["id"]
    api_client.post(f"{BASE}/{cid}/start")
    lease_for_the_test(cid)
    with InProcessHost(cid) as host:
        wait_until(lambda: _row(cid).status == "pending", timeout=30, message="a QR code")
        api_client.post(f"{BASE}/{cid}/sandbox/scan")
        wait_until(lambda: _row(cid).status == "ready", timeout=30, message="ready")
        assert SandboxCredential.objects.filter(connection_id=cid).exists()
        response = api_client.delete(f"{BASE}/{cid}")
        assert response.status_code == 204, response.content
        assert not WaConnection.objects.filter(pk=cid).exists()
        assert not SandboxCredential.objects.filter(connection_id=cid).exists()
        assert not host.failures()
