"""One neonize session per host process: goneonize's global maps are written from each session's thread.

goneonize main.go (neonize 0.5.2) declares ``clients`` (line 45), ``eventChannel`` and ``StopSignal``
(lines 53-54) as plain Go maps. ``Neonize()`` writes them on the connecting thread
(``StopSignal[id] = cancel`` line 614, ``eventChannel[uuid] = eventChan`` line 626,
``clients[uuid] = client`` line 654) and ``Stop`` (lines 587-605) deletes from all three on the
caller's thread, while other threads read them: Go aborts the process on a concurrent map write, or a
read during one. Even one session has a small window: a stop right after a start races ``Neonize()``'s
writes, and a stop during a ``Connected`` races the ``clients[id]`` read of
``SetForceActiveDeliveryReceipts`` (line 1920) on the event thread.
"""

from __future__ import annotations

import pytest

from accounts.models import WaConnection
from accounts.runtime.drivers.neonize_driver import NeonizeDriver
from tests.accounts.test_neonize_lifecycle import wait_for
from wildcat.checks import check_neonize_sessions_per_host
from wildcat.whatsapp import DriverError

pytestmark = pytest.mark.django_db


def _driver(api_key, name: str) -> NeonizeDriver:
    connection = WaConnection.objects.create(api_key=api_key, name=name, driver="neonize")
    return NeonizeDriver(connection_id=connection.pk, emit=lambda event: None)


def test_a_second_neonize_session_in_one_process_is_refused(go, api_key):
    first, second = _driver(api_key, "first"), _driver(api_key, "second")
    first.start()
    wait_for(lambda: go.connects, "the first connect")
    try:
        with pytest.raises(DriverError) as caught:
            second.start()
        assert caught.value.code == "one_session_per_host" and caught.value.permanent
        assert "WILDCAT_SESSIONS_PER_HOST=1" in caught.value.message
        assert second.client is None and len(go.connects) == 1, "no second client reached Go"
    finally:
        first.stop()
    second.start()  # once the first is stopped, the process is free
    wait_for(lambda: len(go.connects) == 2, "the second connect")
    second.stop()
    uuids = [connect.uuid for connect in go.connects]
    assert uuids == [f"wildcat-{first.connection_id}".encode(), f"wildcat-{second.connection_id}".encode()]


def test_the_system_check_refuses_several_neonize_sessions_per_host(settings):
    settings.WILDCAT_SESSIONS_PER_HOST = 1
    assert check_neonize_sessions_per_host(None) == []
    settings.WILDCAT_SESSIONS_PER_HOST = 4
    (error,) = check_neonize_sessions_per_host(None)
    assert error.id == "wildcat.E030" and "one per host process" in error.msg
    assert "WILDCAT_SESSIONS_PER_HOST=1" in error.hint
