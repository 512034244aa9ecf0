"""Driver lifecycle through neonize's real connect path, with the Go library replaced by a scripted fake."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest
from django.conf import settings
from neonize.events import EVENT_TO_INT
from neonize.proto import Neonize_pb2 as npb

from accounts.models import WaConnection
from accounts.runtime.drivers.neonize_driver import NeonizeDriver
from accounts.runtime.drivers.neonize_translation import CONNECTION_TRANSLATORS
from tests.accounts.neonize_binding import ME_JID, Go
from wildcat.whatsapp import DriverError, DriverEventType

pytestmark = pytest.mark.django_db
WAIT_SECONDS = 20.0


def wait_for(predicate, what: str):
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _connection(api_key, whatsapp_id: str = "", *, in_store: bool = True, name: str = "phone") -> WaConnection:
    connection = WaConnection.objects.create(api_key=api_key, name=name, driver="neonize", whatsapp_id=whatsapp_id)
    if whatsapp_id and in_store:
        seed_device(Path(settings.DATA_DIR) / "sessions" / f"connection-{connection.pk}.sqlite3", whatsapp_id)
    return connection


def seed_device(path: Path, whatsapp_id: str) -> None:
    """A session store holding one linked device, as whatsmeow leaves it after pairing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE IF NOT EXISTS whatsmeow_device (jid TEXT PRIMARY KEY)")
        db.execute("INSERT INTO whatsmeow_device (jid) VALUES (?)", (whatsapp_id,))
        db.commit()


def _driver(connection: WaConnection):
    events: list = []
    driver = NeonizeDriver(connection_id=connection.pk, emit=events.append)
    return driver, events


def test_resume_uses_the_stored_jid_a_unique_uuid_and_does_not_block(go, api_key, tmp_path):
    connection = _connection(api_key, whatsapp_id=ME_JID)
    driver, events = _driver(connection)
    started = time.monotonic()
    driver.start()
    assert time.monotonic() - started < 5  # connect() runs on its own thread
    wait_for(lambda: go.connects, "connect")
    call = go.connects[0]
    assert call.uuid == f"wildcat-{connection.pk}".encode()
    assert call.store == str(tmp_path / "sessions" / f"connection-{connection.pk}.sqlite3")
    assert (call.jid.User, call.jid.Device, call.jid.Server) == ("5511888880000", 7, "s.whatsapp.net")
    assert call.new_device is False
    wanted = {EVENT_TO_INT[kind] for kind in CONNECTION_TRANSLATORS} | {17, 18}  # + MessageEv, ReceiptEv
    assert wanted <= call.subscribed  # every handler was registered before connect
    call.event(npb.Connected(status=True))
    wait_for(lambda: events, "connected event")
    assert events[0].type == DriverEventType.CONNECTED and events[0].account.whatsapp_id == ME_JID
    assert driver.is_logged_in()
    driver.stop()
    assert ("Stop", (call.uuid,)) in go.calls
    assert not driver._thread.is_alive()


def test_a_device_missing_from_the_store_starts_a_fresh_login_instead_of_crashing(go, api_key):
    driver, _ = _driver(_connection(api_key, whatsapp_id=ME_JID, in_store=False))
    driver.start()
    wait_for(lambda: go.connects, "connect")
    assert go.connects[0].new_device is True and go.connects[0].jid is None
    driver.stop()


def test_fresh_login_issues_qr_codes_and_a_pair_code_once_the_socket_is_up(go, api_key):
    driver, events = _driver(_connection(api_key))
    driver.start()
    wait_for(lambda: go.connects, "connect")
    call = go.connects[0]
    assert call.new_device is True and call.jid is None
    with pytest.raises(DriverError) as caught:
        driver.request_pair_code("5511999990000")
    assert caught.value.code == "pair_code_not_ready" and not caught.value.permanent
    assert "PairPhone" not in go.names()
    call.qr(b"2@first,noise,identity,adv")
    call.qr(b"2@second,noise,identity,adv")
    wait_for(lambda: len(events) == 2, "two QR events")
    assert [(e.type, e.qr, e.detail["expires_in"]) for e in events] == [
        (DriverEventType.QR, "2@first,noise,identity,adv", 60),
        (DriverEventType.QR, "2@second,noise,identity,adv", 20),
    ]
    assert driver.request_pair_code("+55 11 99999-0000") == "ABCD-1234"
    params = npb.PairPhoneParams.FromString(next(args for name, args in go.calls if name == "PairPhone")[1])
    assert params.phone == "5511999990000" and params.showPushNotification
    driver.tick(time.monotonic() + 3600)  # the codes ran out without a scan
    assert (events[-1].type, events[-1].reason) == (DriverEventType.DISCONNECTED, "qr_timeout")
    assert "Stop" in go.names() and driver.client is None


def test_a_failed_dial_is_reported_and_retried_in_a_fresh_process_not_from_tick(go, api_key):
    def script(args):
        go.connects.append(Go(args))
        return b"failed to dial whatsapp web websocket: no such host" if len(go.connects) == 1 else None

    go.script = script
    driver, events = _driver(_connection(api_key, whatsapp_id=ME_JID))
    driver.start()
    wait_for(lambda: events, "connect error")
    assert (events[0].type, events[0].reason) == (DriverEventType.DISCONNECTED, "connect_error")
    assert "no such host" in events[0].detail["error"]
    assert driver.fresh_process_needed  # the host hands the session back (see test_neonize_retries)
    driver.tick(time.monotonic() + 3600)
    assert len(go.connects) == 1  # another connect here would leak a store container
    driver.stop()


def test_logout_logs_out_stops_and_deletes_the_store(go, api_key, tmp_path):
    connection = _connection(api_key, whatsapp_id=ME_JID)
    driver, events = _driver(connection)
    driver.start()
    wait_for(lambda: go.connects, "connect")
    go.connects[0].event(npb.Connected(status=True))
    wait_for(driver.is_logged_in, "login")
    store = tmp_path / "sessions" / f"connection-{connection.pk}.sqlite3"
    assert store.exists()
    driver.logout()
    assert go.names().index("Logout") < go.names().index("Stop")
    assert not store.exists()
    assert (events[-1].type, events[-1].reason) == (DriverEventType.LOGGED_OUT, "logout")
    assert not driver.is_logged_in()


def test_a_second_client_for_the_same_connection_survives_the_first_being_collected(go, api_key):
    import gc

    connection = _connection(api_key, whatsapp_id=ME_JID)
    first, _ = _driver(connection)
    first.client = first._client_build()
    first.client = None
    gc.collect()
    assert "Stop" not in go.names()  # a collected client must never stop the live session


# whatsmeow qrchan.go:36-56 names the QR channel's final items; handleEvent (lines 170-182) picks them.
@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (b"timeout", "qr_timeout"),  # the codes ran out, or the server closed the socket (Disconnected)
        (b"error", "pair_error"),  # PairError after a scan
        (b"err-client-outdated", "client_outdated"),  # 405 at the login handshake, before any code
        (b"err-unexpected-state", "connect_failure"),  # ConnectFailure, LoggedOut or TemporaryBan instead
    ],
)
def test_a_fresh_login_whatsmeow_ends_without_a_pairing_is_reported_and_stopped(go, api_key, status, reason):
    driver, events = _driver(_connection(api_key))
    driver.start()
    wait_for(lambda: go.connects, "connect")
    go.connects[0].status(status)
    assert events == [], "reported from tick, on the command thread that may stop the session"
    driver.tick(time.monotonic())
    assert [(e.type, e.reason) for e in events] == [(DriverEventType.DISCONNECTED, reason)]
    assert events[0].detail["login_status"] == status.decode()
    # Go now waits in FetchMe for a device id that will never come (main.go:2503-2509): stop the session.
    assert "Stop" in go.names() and driver.client is None
    driver.tick(time.monotonic() + 3600)
    assert len(events) == 1


def test_a_successful_scan_or_a_scan_without_multidevice_ends_nothing(go, api_key):
    driver, events = _driver(_connection(api_key))
    driver.start()
    wait_for(lambda: go.connects, "connect")
    call = go.connects[0]
    call.qr(b"2@first,noise,identity,adv")
    wait_for(lambda: events, "the QR event")
    # qrchan.go:137-140: the channel stays open and the codes go on.
    call.status(b"err-scanned-without-multidevice")
    driver.tick(time.monotonic())
    call.status(b"success")  # PairStatus and Connected follow through the event callback
    driver.tick(time.monotonic() + 3600)
    assert [e.type for e in events] == [DriverEventType.QR] and "Stop" not in go.names()
    driver.stop()


def test_a_fresh_login_without_a_first_qr_code_in_time_is_a_qr_timeout(go, api_key, settings):
    settings.WILDCAT_NEONIZE_FIRST_QR_SECONDS = 45
    driver, events = _driver(_connection(api_key))
    started = time.monotonic()
    driver.start()
    wait_for(lambda: go.connects, "connect")
    driver.tick(started + 40)
    assert events == []
    driver.tick(time.monotonic() + 46)
    assert [(e.type, e.reason, e.detail) for e in events] == [
        (DriverEventType.DISCONNECTED, "qr_timeout", {"codes": 0, "first_qr_seconds": 45})
    ]
    assert "Stop" in go.names() and driver.client is None


def test_the_first_qr_deadline_ends_once_a_code_shows_and_never_applies_to_a_resume(go, api_key, settings):
    settings.WILDCAT_NEONIZE_FIRST_QR_SECONDS = 5
    fresh, fresh_events = _driver(_connection(api_key))
    fresh.start()
    wait_for(lambda: go.connects, "connect")
    go.connects[0].qr(b"2@first,noise,identity,adv")
    fresh.tick(time.monotonic() + 30)  # within the code's own 60 s
    assert [e.type for e in fresh_events] == [DriverEventType.QR]
    fresh.stop()
    resumed, resumed_events = _driver(_connection(api_key, whatsapp_id=ME_JID, name="resumed"))
    resumed.start()
    wait_for(lambda: len(go.connects) == 2, "the second connect")
    resumed.tick(time.monotonic() + 3600)
    assert resumed_events == []
    resumed.stop()


def test_the_login_outcomes_reach_the_connection_state(go, api_key):
    """Through the event sink: a failed pairing ends the login, an outdated client is held."""
    from accounts.runtime.event_sink import handle_driver_event

    outcomes = {}
    for status in (b"error", b"err-client-outdated"):
        connection = _connection(api_key, name=status.decode())
        WaConnection.objects.filter(pk=connection.pk).update(status="pending", desired_state="running")
        driver, events = _driver(connection)
        driver.start()
        wait_for(lambda: len(go.connects) == len(outcomes) + 1, "connect")
        go.connects[-1].status(status)
        driver.tick(time.monotonic())
        for event in events:
            handle_driver_event(connection_id=connection.pk, event=event)
        connection.refresh_from_db()
        outcomes[status] = (connection.status, connection.desired_state)
    assert outcomes == {b"error": ("auth_failed", "stopped"), b"err-client-outdated": ("disconnected", "stopped")}
