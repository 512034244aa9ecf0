"""Fixtures for the neonize driver tests: a logged-in driver whose client talks to the recording binding."""

from __future__ import annotations

import pytest

from accounts.runtime.drivers.neonize_driver import NeonizeDriver
from tests.accounts.neonize_binding import FakeBinding, on_binding


@pytest.fixture
def fake(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.DATABASE_URL = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    return FakeBinding()


@pytest.fixture
def driver(fake):
    """A logged-in driver whose neonize client talks to the fake binding."""
    events: list = []
    driver = on_binding(NeonizeDriver(connection_id=7, emit=events.append), fake)
    driver.events = events
    yield driver
    driver.stop()
