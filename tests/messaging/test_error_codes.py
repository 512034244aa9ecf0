"""A failed message's error codes are published where integrators and operators look: API, webhooks, admin."""

from __future__ import annotations

import pytest
from django.utils import timezone

from messaging.models import Message
from tests.accounts.factories import ConnectionFactory

pytestmark = pytest.mark.django_db
PUBLISHED = ("send_outcome_unknown", "not_on_whatsapp")


def test_the_api_schema_lists_the_message_error_codes(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    code = schema["components"]["schemas"]["MessageError"]["properties"]["code"]
    for published in PUBLISHED:
        assert f"`{published}`" in code["description"]
    assert "new Idempotency-Key" in code["description"]


def test_the_webhook_catalogue_describes_the_error_of_a_failed_message(api_client):
    catalogue = {entry["type"]: entry for entry in api_client.get("/api/v1/webhooks/event-types").json()}
    failed = catalogue["message.failed"]
    code = failed["data_schema"]["properties"]["error"]["properties"]["code"]
    assert set(PUBLISHED) <= set(code["examples"])
    assert all(f"`{published}`" in failed["description"] for published in PUBLISHED)


def test_the_admin_filters_by_error_code_and_says_what_it_means(admin_client, api_key):
    connection = ConnectionFactory(api_key=api_key, ready=True)
    common = {"api_key": api_key, "connection": connection, "direction": "outbound", "from_me": True, "type": "text"}
    unsure = Message.objects.create(
        **common,
        wa_message_id="3EB0UNSURE",
        chat_jid="4915112345678@s.whatsapp.net",
        text="did it arrive",
        status="failed",
        failed_at=timezone.now(),
        error_code="send_outcome_unknown",
        error="timed out waiting for message send response",
    )
    Message.objects.create(
        **common,
        wa_message_id="3EB0NOBODY",
        chat_jid="5511940123456@s.whatsapp.net",
        text="nobody home",
        status="failed",
        failed_at=timezone.now(),
        error_code="not_on_whatsapp",
        error="no LID found for 5511940123456@s.whatsapp.net from server",
    )
    listing = admin_client.get("/admin/messaging/message/", {"error_code": "send_outcome_unknown"})
    page = listing.content.decode()
    assert listing.status_code == 200 and "did it arrive" in page and "nobody home" not in page
    detail = admin_client.get(f"/admin/messaging/message/{unsure.pk}/change/").content.decode()
    assert "never resent automatically" in detail
