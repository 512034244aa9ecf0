"""Fixtures for the security tests: two keys with full worlds, short session waits, loopback webhooks."""

from __future__ import annotations

import pytest

from tests.security.world import build_world


@pytest.fixture
def short_waits(settings):
    """Calls that wait for a session answer quickly: no session runs in these tests."""
    settings.WILDCAT_SESSION_CALL_TIMEOUT = 0.2
    settings.WILDCAT_COMMAND_WAIT_SECONDS = 0.2
    settings.WILDCAT_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]


@pytest.fixture
def worlds(short_waits, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return build_world("a", "4915100000001"), build_world("b", "4915100000002")
