"""Two grey ticks: a connected neonize session activates delivery receipts and sends its presence setting.

whatsmeow answers inbound messages with receipts of type "inactive" unless receipts are forced
active or the account is marked available (receipt.go:285-286); phones do not show those as
delivered. ``SetForceActiveDeliveryReceipts(true)`` (receipt.go:238-262) fixes that whatever the
presence, from the moment the ``Connected`` handler sets it (messages answered before that still get
"inactive": see ``neonize_presence``); ``SendPresence`` (presence.go:64-87) fails with ErrNoPushName,
locally, until the account has a push name (presence.go:67-68).
"""

from __future__ import annotations

import pytest
from django.utils import timezone
from neonize.proto import Neonize_pb2 as npb

from accounts.models import WaConnection
from accounts.runtime.drivers.neonize_driver import NeonizeDriver
from accounts.runtime.drivers.neonize_presence import RETRY_MAX_SECONDS, RETRY_SECONDS
from tests.accounts.factories import ConnectionFactory
from tests.accounts.neonize_binding import FakeBinding, on_binding

pytestmark = pytest.mark.django_db
NO_PUSH_NAME = "can't send presence without PushName set"  # whatsmeow errors.go:34 ErrNoPushName


@pytest.fixture
def go(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    return FakeBinding()


def _driver(connection, go) -> NeonizeDriver:
    """A resumed session whose neonize client talks to the fake binding, not yet connected."""
    return on_binding(NeonizeDriver(connection_id=connection.pk, emit=lambda event: None), go, logged_in=False)


def _neonize_connection(**fields) -> WaConnection:
    return ConnectionFactory(
        running=True,
        driver=WaConnection.Driver.NEONIZE,
        status=WaConnection.Status.READY,
        ready_at=timezone.now(),
        **fields,
    )


def _presences(go: FakeBinding) -> list[bytes]:
    return [args[1] for name, args in go.calls if name == "SendPresence"]


def test_connecting_activates_receipts_at_once_and_sends_the_default_presence(go):
    driver = _driver(_neonize_connection(), go)
    try:
        driver._on_connection_event(None, npb.Connected(status=True))
        # The flag is set from the Connected handler itself, not on a later tick.
        assert ("SetForceActiveDeliveryReceipts", (driver.client.uuid, True)) in go.calls
        assert _presences(go) == [], "the presence is a network send: it waits for the command thread"
        driver.tick(100.0)
        driver.tick(101.0)
        assert _presences(go) == [b"unavailable"]  # the default keeps the phone's notifications
    finally:
        driver.stop()


def test_an_available_connection_says_so_and_retries_until_whatsapp_has_its_push_name(go):
    driver = _driver(_neonize_connection(presence=WaConnection.Presence.AVAILABLE), go)
    go.presence_error = NO_PUSH_NAME
    try:
        driver._on_connection_event(None, npb.Connected(status=True))
        driver.tick(100.0)
        driver.tick(100.0 + RETRY_SECONDS - 1)
        assert _presences(go) == [b"available"], "a refused presence waits before it is tried again"
        go.presence_error = ""
        driver.tick(100.0 + RETRY_SECONDS + 1)
        driver.tick(100.0 + 10 * RETRY_SECONDS)
        assert _presences(go) == [b"available", b"available"]
    finally:
        driver.stop()


def test_a_changed_presence_is_applied_by_a_session_call(go):
    connection = _neonize_connection()
    driver = _driver(connection, go)
    try:
        driver._on_connection_event(None, npb.Connected(status=True))
        driver.tick(100.0)
        WaConnection.objects.filter(pk=connection.pk).update(presence=WaConnection.Presence.AVAILABLE)
        assert driver.call("presence_apply", {}) == {"presence": "available", "sent": True}
        assert _presences(go) == [b"unavailable", b"available"]
    finally:
        driver.stop()


def test_a_fresh_pairing_keeps_retrying_the_presence_until_the_push_name_arrives(go):
    # On a fresh pairing the push name comes with the app-state sync (whatsmeow appstate.go:361-371), which
    # goneonize does not report; until then SendPresence is refused locally (presence.go:67-68).
    driver = _driver(_neonize_connection(presence=WaConnection.Presence.AVAILABLE), go)
    go.presence_error = NO_PUSH_NAME
    try:
        driver._on_connection_event(None, npb.Connected(status=True))
        now = 100.0
        for _ in range(40):  # hours of refusals: far more than any fixed number of tries
            driver.tick(now)
            now += RETRY_MAX_SECONDS
        tries, last = len(_presences(go)), now - RETRY_MAX_SECONDS
        assert 20 < tries <= 40, "retried for as long as the session runs, never more often than the cap allows"
        driver.tick(last + 1)
        assert len(_presences(go)) == tries, "a refused send still waits before the next one"
        go.presence_error = ""
        driver.tick(now)
        assert _presences(go)[-1] == b"available"
        driver.tick(now + 10 * RETRY_MAX_SECONDS)
        assert len(_presences(go)) == tries + 1, "sent once: no more retries after it went out"
    finally:
        driver.stop()
