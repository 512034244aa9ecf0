"""Fixtures for messaging tests: ready connections owned by the test keys, and the sandbox phone."""

from __future__ import annotations

import pytest

from tests.accounts.factories import ConnectionFactory


@pytest.fixture
def connection(api_key):
    return ConnectionFactory(api_key=api_key, ready=True)


@pytest.fixture(autouse=True)
def _fresh_pacing(settings, tmp_path):
    """Pacing state is per process: every test starts with none. Media goes to a temporary folder."""
    from messaging import pacing

    settings.MEDIA_ROOT = str(tmp_path / "media")
    pacing.pacing_reset()
    yield
    pacing.pacing_reset()


class SandboxPhone:
    """A sandbox driver brought online in the test process, with its events collected for the sink."""

    def __init__(self, connection) -> None:
        import time

        from accounts.runtime.drivers.sandbox import SandboxDriver

        self.connection = connection
        self.events: list = []
        self.driver = SandboxDriver(connection_id=connection.pk, emit=self.events.append)
        self.driver.start()
        self.driver.call_scan(phone="4915199990000")
        self.driver.tick(time.monotonic() + 3600)
        assert self.driver._mode == 3, "the sandbox phone is online"
        self.events.clear()

    def process(self) -> int:
        from messaging.outbox import outbox_process

        return outbox_process(connection_id=self.connection.pk, port=self.driver)

    def deliver_receipts(self, *, after: float = 3600) -> int:
        """Let the simulated recipients' receipts arrive and feed them through the real event sink."""
        import time

        from accounts.runtime.event_sink import handle_driver_event

        self.driver.tick(time.monotonic() + after)
        events, self.events[:] = list(self.events), []
        for event in events:
            handle_driver_event(connection_id=self.connection.pk, event=event)
        return len(events)

    def deliveries(self):
        from accounts.models import SandboxDelivery

        return SandboxDelivery.objects.filter(connection_id=self.connection.pk)


@pytest.fixture
def phone(connection, settings):
    settings.WILDCAT_SEND_RATE_PER_MINUTE = 0
    return SandboxPhone(connection)
