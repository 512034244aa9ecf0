"""Webhook tests reach receivers on 127.0.0.1, so loopback is an allowed network here."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _loopback_receivers_allowed(settings):
    settings.WILDCAT_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
