"""Fixtures for the neonize driver tests: a logged-in driver whose client talks to the recording binding."""

from __future__ import annotations

import pytest

from accounts.runtime.drivers.neonize_driver import NeonizeDriver
from tests.accounts.neonize_binding import ME_JID, FakeBinding


@pytest.fixture
def fake(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.DATABASE_URL = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    return FakeBinding()


@pytest.fixture
def driver(fake):
    """A logged-in driver whose neonize client talks to the fake binding."""
    events: list = []
    driver = NeonizeDriver(connection_id=7, emit=events.append)
    driver.events = events
    driver._own_jid = ME_JID
    driver.client = driver._client_build()
    driver.client._NewClient__client = fake
    driver._logged_in = True
    yield driver
    driver.stop()
