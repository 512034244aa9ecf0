"""Disconnects whatsmeow does not recover from: each gets its state, timeline and restart policy.

whatsmeow stops reconnecting after a stream taken over by another client, a temporary ban, an
outdated client and an unknown connect failure (``expectDisconnect()`` in ``connectionevents.go``).
The events below are the protobufs goneonize builds for them, fed through neonize's real event path.
"""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from neonize.proto import Neonize_pb2 as npb

from accounts.models import ConnectionEvent, SessionCommand, WaConnection
from accounts.runtime.drivers.neonize_driver import NeonizeDriver
from accounts.runtime.event_sink import handle_driver_event
from accounts.runtime.host import SessionHost
from accounts.runtime.reconciler import sessions_restart_disconnected
from tests.accounts.neonize_binding import ME_JID, Go
from tests.accounts.test_neonize_lifecycle import seed_device, wait_for
from wildcat.whatsapp import DriverEventType

pytestmark = pytest.mark.django_db


def _ready_connection(api_key, tmp_path) -> WaConnection:
    """A linked, running connection with a live lease, as its owner sees it just before the event."""
    connection = WaConnection.objects.create(
        api_key=api_key, name="phone", driver="neonize", whatsapp_id=ME_JID, status="ready", desired_state="running"
    )
    WaConnection.objects.filter(pk=connection.pk).update(
        lease_owner="node:1:x", lease_expires_at=timezone.now() + timedelta(days=3)
    )
    seed_device(tmp_path / "sessions" / f"connection-{connection.pk}.sqlite3", ME_JID)
    return connection


def _deliver(go, connection: WaConnection, event) -> list:
    """Run the driver, let Go report ``event`` after the connect, and apply what the driver emitted."""
    events: list = []
    driver = NeonizeDriver(connection_id=connection.pk, emit=events.append)
    driver.start()
    wait_for(lambda: go.connects, "connect")
    go.connects[0].event(event)
    wait_for(lambda: events, "the driver's event")
    driver.stop()
    for driver_event in events:
        handle_driver_event(connection_id=connection.pk, event=driver_event)
    connection.refresh_from_db()
    return events


def _restarts(connection: WaConnection) -> list[SessionCommand]:
    return list(SessionCommand.objects.filter(connection=connection, kind=SessionCommand.Kind.RESTART))


def test_a_stream_replaced_by_another_client_is_held_disconnected_and_never_fought_back(go, api_key, tmp_path):
    connection = _ready_connection(api_key, tmp_path)
    # whatsmeow connectionevents.go lines 48-51: a <stream:error> with <conflict type="replaced"/> calls
    # expectDisconnect() (no auto-reconnect) and dispatches an empty StreamReplaced; goneonize main.go
    # line 733 encodes it as the empty defproto.StreamReplaced.
    events = _deliver(go, connection, npb.StreamReplaced())
    assert [(e.type, e.reason) for e in events] == [(DriverEventType.DISCONNECTED, "stream_replaced")]
    assert (connection.status, connection.disconnect_reason) == ("disconnected", "stream_replaced")
    assert connection.desired_state == "stopped"
    assert "Another WhatsApp Web client took over" in connection.error
    state = connection.events.get(kind=ConnectionEvent.Kind.STATE, to_status="disconnected")
    assert state.detail["reason"] == "stream_replaced"
    assert connection.events.filter(kind=ConnectionEvent.Kind.DISCONNECT, detail__reason="stream_replaced").exists()
    with time_machine.travel(timezone.now() + timedelta(days=1)):
        assert sessions_restart_disconnected() == []
    assert _restarts(connection) == []


def test_an_outdated_client_is_held_disconnected_with_an_error_that_says_what_to_do(go, api_key, tmp_path):
    connection = _ready_connection(api_key, tmp_path)
    # whatsmeow connectionevents.go lines 139-141: connect failure 405 dispatches ClientOutdated after
    # expectDisconnect() (lines 108-111, the default case); goneonize main.go line 760 sends it empty.
    _deliver(go, connection, npb.ClientOutdated())
    assert (connection.status, connection.disconnect_reason, connection.desired_state) == (
        "disconnected",
        "client_outdated",
        "stopped",
    )
    assert "Upgrade Wildcat" in connection.error


def test_a_temporary_ban_waits_out_its_expiry_then_restarts(go, api_key, tmp_path, settings):
    settings.WILDCAT_DISCONNECTED_RESTART_SECONDS = 300
    connection = _ready_connection(api_key, tmp_path)
    banned_at = timezone.now()
    # whatsmeow connectionevents.go lines 133-138: failure reason 402 dispatches TemporaryBan{Code,
    # Expire: expire attribute * time.Second}; goneonize utils/encoder.go line 624 sends Expire in seconds.
    ban = npb.TemporaryBan(Code=npb.TemporaryBan.SEND_TO_TOO_MANY_PEOPLE, Expire=3600)
    events = _deliver(go, connection, ban)
    assert events[0].type == DriverEventType.TEMPORARY_BAN
    assert (connection.status, connection.disconnect_reason, connection.desired_state) == (
        "disconnected",
        "temporary_ban",
        "running",
    )
    assert "send_to_too_many_people" in connection.error and "3600 s" in connection.error
    assert abs((connection.retry_at - banned_at).total_seconds() - 3600) < 60
    state = connection.events.get(kind=ConnectionEvent.Kind.STATE, to_status="disconnected")
    assert state.detail == {
        "code": "send_to_too_many_people",
        "expires_in": 3600,
        "reason": "temporary_ban",
        "error": connection.error,
    }
    with time_machine.travel(banned_at + timedelta(minutes=30)):  # past the disconnected limit, not the ban
        assert sessions_restart_disconnected() == []
    with time_machine.travel(banned_at + timedelta(seconds=3660)):
        assert sessions_restart_disconnected() == [connection.pk]
        assert sessions_restart_disconnected() == []  # one restart per expiry
    [command] = _restarts(connection)
    assert command.payload == {"reason": "ban_expired"}
    row = connection.events.get(kind=ConnectionEvent.Kind.RESTART)
    assert (row.detail["reason"], row.detail["disconnect_reason"]) == ("ban_expired", "temporary_ban")


def test_an_unknown_connect_failure_is_restarted_by_the_watchdog_after_the_limit(go, api_key, tmp_path, settings):
    settings.WILDCAT_DISCONNECTED_RESTART_SECONDS = 300
    connection = _ready_connection(api_key, tmp_path)
    failed_at = timezone.now()
    # whatsmeow connectionevents.go lines 150-154: any other reason (409 bad user agent here) is an
    # "Unknown connect failure" that dispatches ConnectFailure{Reason, Message, Raw} after
    # expectDisconnect(); goneonize utils/encoder.go lines 672-677 encode it with the raw <failure> node.
    # whatsmeow's decoder reads attribute values as strings (binary/decoder.go:306-326), which goneonize
    # encodes as ``text``; a node without content has ``Nil`` set (encoder.go:628-658).
    raw = npb.Node(Tag="failure", Attrs=[npb.NodeAttrs(name="reason", text="409")], Nil=True)
    failure = npb.ConnectFailure(Reason=npb.BAD_USER_AGENT, Message="", Raw=raw)
    _deliver(go, connection, failure)
    assert (connection.status, connection.disconnect_reason, connection.desired_state) == (
        "disconnected",
        "connect_failure",
        "running",
    )
    state = connection.events.get(kind=ConnectionEvent.Kind.STATE, to_status="disconnected")
    assert state.detail["code"] == "bad_user_agent"
    with time_machine.travel(failed_at + timedelta(seconds=200)):
        assert sessions_restart_disconnected() == []  # whatsmeow may still be busy; not yet
    with time_machine.travel(failed_at + timedelta(seconds=301)):
        assert sessions_restart_disconnected() == [connection.pk]
        assert sessions_restart_disconnected() == []
    [command] = _restarts(connection)
    assert command.payload == {"reason": "disconnected_too_long"}


def test_a_stopped_or_unleased_disconnected_session_is_left_alone(api_key, settings):
    settings.WILDCAT_DISCONNECTED_RESTART_SECONDS = 300
    long_ago = timezone.now() - timedelta(hours=1)
    lease = {"lease_owner": "node:1:x", "lease_expires_at": timezone.now() + timedelta(minutes=5)}
    stopped = WaConnection.objects.create(api_key=api_key, name="stopped", status="disconnected", **lease)
    unleased = WaConnection.objects.create(
        api_key=api_key, name="unleased", status="disconnected", desired_state="running"
    )
    WaConnection.objects.update(disconnected_at=long_ago)
    assert sessions_restart_disconnected() == []  # the reconciler's start covers an unowned session
    assert not SessionCommand.objects.filter(connection__in=[stopped, unleased]).exists()


def test_a_restart_of_a_neonize_session_goes_to_a_fresh_host_process(go, api_key, tmp_path):
    connection = _ready_connection(api_key, tmp_path)
    out = io.StringIO()
    host = SessionHost(protocol_out=out, poll_seconds=60)
    host._handle_request({"op": "start", "connection_id": connection.pk, "driver": "neonize"})
    wait_for(lambda: go.connects, "connect")
    host.restart_session(connection.pk)
    # Connecting again in this process would open a second store container (see test_neonize_retries).
    assert len(go.connects) == 1 and "Stop" in go.names()
    assert connection.pk not in host.sessions
    replies = [json.loads(line) for line in out.getvalue().splitlines()]
    assert replies[-1] == {"op": "retry", "connection_id": connection.pk, "reason": "restart"}


def test_a_failed_connect_hands_the_session_back_instead_of_dialling_again_in_process(go, api_key, tmp_path):
    connection = _ready_connection(api_key, tmp_path)

    def script(args):
        go.connects.append(Go(args))
        # whatsmeow socket/framesocket.go line 111: fmt.Errorf("%w: %w", ErrDialFailed, err)
        return b"failed to dial whatsapp web websocket: dial tcp: lookup web.whatsapp.com: no such host"

    go.script = script
    out = io.StringIO()
    host = SessionHost(protocol_out=out, poll_seconds=60)
    host._handle_request({"op": "start", "connection_id": connection.pk, "driver": "neonize"})
    wait_for(lambda: host.sessions[connection.pk].driver.fresh_process_needed, "the failed connect")
    host._tick_all(0.0)
    assert len(go.connects) == 1 and connection.pk not in host.sessions
    replies = [json.loads(line) for line in out.getvalue().splitlines()]
    assert replies[-1] == {"op": "retry", "connection_id": connection.pk, "reason": "connect_error"}
    (_, event) = host.events.get_nowait()
    assert (event.type, event.reason) == (DriverEventType.DISCONNECTED, "connect_error")
    assert "no such host" in event.detail["error"]


def _connect_fails_with(go, text: str):
    def script(args):
        go.connects.append(Go(args))
        return text.encode()

    go.script = script


def _host_runs(go, connection: WaConnection) -> tuple[SessionHost, io.StringIO]:
    """A session host runs the connection until its connect() returns the scripted error."""
    out = io.StringIO()
    host = SessionHost(protocol_out=out, poll_seconds=60)
    host._handle_request({"op": "start", "connection_id": connection.pk, "driver": "neonize"})
    wait_for(lambda: not host.events.empty(), "the driver's event")
    host._tick_all(0.0)
    return host, out


def test_a_ban_code_goneonize_cannot_encode_waits_an_hour_instead_of_redialling(go, api_key, tmp_path, settings):
    settings.WILDCAT_DISCONNECTED_RESTART_SECONDS = 300
    connection = _ready_connection(api_key, tmp_path)
    # goneonize utils/encoder.go:608-625 encodes only codes 101-104 and 106; for another code (whatsmeow
    # events.go:167-173 accepts any) the proto2-required Code stays nil and proto.Marshal fails in
    # CallbackFunction (main.go:2541-2543), which Neonize() returns (main.go:1174-1176). Go's protobuf
    # prefixes its errors with "proto:" and a space that is sometimes U+00A0.
    _connect_fails_with(go, "proto:\u00a0required field neonize.TemporaryBan.Code not set")
    banned_at = timezone.now()
    host, out = _host_runs(go, connection)
    assert connection.pk in host.sessions and "retry" not in out.getvalue(), "no fresh-process redial"
    (_, event) = host.events.get_nowait()
    assert (event.type, event.detail) == (DriverEventType.TEMPORARY_BAN, {"code": "unknown", "expires_in": 3600})
    handle_driver_event(connection_id=connection.pk, event=event)
    connection.refresh_from_db()
    assert (connection.status, connection.disconnect_reason, connection.desired_state) == (
        "disconnected",
        "temporary_ban",
        "running",
    )
    assert abs((connection.retry_at - banned_at).total_seconds() - 3600) < 60
    with time_machine.travel(banned_at + timedelta(minutes=30)):
        assert sessions_restart_disconnected() == []
    with time_machine.travel(banned_at + timedelta(seconds=3660)):
        assert sessions_restart_disconnected() == [connection.pk]
    host._stop_all()


def test_a_connect_failure_reason_goneonize_cannot_encode_is_left_to_the_watchdog(go, api_key, tmp_path, settings):
    settings.WILDCAT_DISCONNECTED_RESTART_SECONDS = 300
    connection = _ready_connection(api_key, tmp_path)
    # e.g. 415 or 418 (whatsmeow events.go:201-206) fall to connectionevents.go:152-154, and goneonize's
    # EncodeConnectFailureReason (encoder.go:574-599) has no value for them.
    _connect_fails_with(go, "proto: required field neonize.ConnectFailure.Reason not set")
    failed_at = timezone.now()
    host, out = _host_runs(go, connection)
    assert connection.pk in host.sessions and "retry" not in out.getvalue(), "no fresh-process redial"
    (_, event) = host.events.get_nowait()
    assert (event.type, event.reason) == (DriverEventType.DISCONNECTED, "connect_failure")
    assert event.detail["code"] == "unknown"
    handle_driver_event(connection_id=connection.pk, event=event)
    connection.refresh_from_db()
    assert (connection.status, connection.disconnect_reason) == ("disconnected", "connect_failure")
    with time_machine.travel(failed_at + timedelta(seconds=200)):
        assert sessions_restart_disconnected() == []
    with time_machine.travel(failed_at + timedelta(seconds=301)):
        assert sessions_restart_disconnected() == [connection.pk]
    host._stop_all()
