"""Fixtures for the neonize driver tests: a logged-in driver whose client talks to the recording binding."""

from __future__ import annotations

import pytest
from neonize import client as neonize_client

from accounts.runtime.drivers.neonize_driver import NeonizeDriver
from tests.accounts.neonize_binding import FakeBinding, Go, on_binding


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


@pytest.fixture
def go(settings, tmp_path, monkeypatch):
    """The recording binding in place of neonize's Go library, keeping a ``Go`` view of every connect."""
    settings.DATA_DIR = tmp_path
    settings.DATABASE_URL = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    fake = FakeBinding()
    fake.connects = []
    fake.script = lambda args: fake.connects.append(Go(args))
    monkeypatch.setattr(neonize_client, "gocode", fake)
    return fake
