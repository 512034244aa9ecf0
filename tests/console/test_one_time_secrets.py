"""A secret shown once in the admin never sits in the session table in clear on its way to the page."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.sessions.models import Session
from django.urls import reverse

pytestmark = pytest.mark.django_db
SHOWN = re.compile(r'<code id="wc-secret-value">([^<]+)</code>')


def _session_rows() -> str:
    """Every session row as stored (signed, not encrypted) and decoded."""
    rows = list(Session.objects.all())
    return " ".join(row.session_data + json.dumps(row.get_decoded()) for row in rows)


@pytest.mark.parametrize("kind", ["api key", "webhook secret"])
def test_the_session_carries_the_secret_encrypted_and_drops_it_once_shown(admin_client, settings, api_key, kind):
    settings.WILDCAT_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    if kind == "api key":
        created = admin_client.post(reverse("admin:apikeys_apikey_add"), {"label": "one-time"})
    else:
        body = {"api_key": api_key.pk, "url": "http://127.0.0.1:9/hook", "event_types": ["message.received"]}
        created = admin_client.post(reverse("admin:webhooks_webhookendpoint_add"), body)
    assert created.status_code == 302
    in_transit = _session_rows()
    page = admin_client.get(created["Location"]).content.decode()
    secret = SHOWN.search(page).group(1)
    assert secret not in in_transit, "the session row held the secret in clear"
    assert secret not in _session_rows() and not SHOWN.search(admin_client.get(created["Location"]).content.decode())
