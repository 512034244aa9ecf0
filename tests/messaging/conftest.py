"""Fixtures for messaging tests: ready connections owned by the test keys, and the sandbox phone."""

from __future__ import annotations

import itertools

import pytest
from django.utils import timezone

_names = itertools.count(1)


def make_connection(api_key, **fields):
    from accounts.models import WaConnection

    defaults = {
        "name": f"phone-{next(_names)}",
        "driver": WaConnection.Driver.SANDBOX,
        "status": WaConnection.Status.READY,
        "authenticated_at": timezone.now(),
        "ready_at": timezone.now(),
        "whatsapp_id": "15550009999@s.whatsapp.net",
        "phone_number": "15550009999",
    }
    defaults.update(fields)
    return WaConnection.objects.create(api_key=api_key, **defaults)


@pytest.fixture
def connection(api_key):
    return make_connection(api_key)


@pytest.fixture(autouse=True)
def _fresh_pacing(settings, tmp_path):
    """Pacing state is per process; every test starts with none. Media goes to a temporary folder."""
    from messaging import pacing

    settings.MEDIA_ROOT = str(tmp_path / "media")
    pacing.pacing_reset()
    yield
    pacing.pacing_reset()
