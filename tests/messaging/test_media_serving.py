"""Media is served as a download, never as a page: attachment, nosniff and a sandboxing CSP (API and admin)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from accounts.session_commands import connection_row_delete
from messaging.inbound import message_receive
from messaging.models import Media, Message
from tests.messaging.conftest import make_connection
from wildcat.whatsapp import InboundMessage, MediaPayload, MessageType

pytestmark = pytest.mark.django_db
PEER_JID = "4915123456789@s.whatsapp.net"
PAGE = b"<html><script>document.title = 'ran'</script></html>"


def _received_media(api_key, filename: str) -> int:
    """A sender's document that claims to be a web page."""
    message = InboundMessage(
        wa_message_id=f"HTML{filename or 'x'}",
        chat_jid=PEER_JID,
        sender_jid=PEER_JID,
        from_me=False,
        is_group=False,
        type=MessageType.DOCUMENT,
        timestamp=datetime.now(UTC),
        media=MediaPayload(PAGE, "text/html", filename),
    )
    return message_receive(connection_id=make_connection(api_key).pk, message=message).media_id


def _assert_served_as_a_download(response, filename: str) -> None:
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;") and filename in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    policy = response["Content-Security-Policy"]
    assert "sandbox" in policy and "default-src 'none'" in policy
    assert b"".join(response.streaming_content) == PAGE


def test_the_api_serves_media_as_a_sandboxed_attachment(api_client, api_key):
    media_id = _received_media(api_key, "page.html")
    _assert_served_as_a_download(api_client.get(f"/api/v1/media/{media_id}"), "page.html")
    unnamed = _received_media(api_key, "")
    _assert_served_as_a_download(api_client.get(f"/api/v1/media/{unnamed}"), f"media-{unnamed}.html")


def test_the_admin_serves_media_as_a_sandboxed_attachment(admin_client, api_key):
    media_id = _received_media(api_key, "page.html")
    response = admin_client.get(reverse("admin:messaging_media_content", args=[media_id]))
    _assert_served_as_a_download(response, "page.html")


@pytest.mark.django_db(transaction=True)
def test_media_of_a_deleted_connection_is_no_longer_downloadable_nor_stored(api_client, api_key):
    media_id = _received_media(api_key, "page.html")
    media = Media.objects.get(pk=media_id)
    stored, storage = media.file.name, media.file.storage
    assert api_client.get(f"/api/v1/media/{media_id}").status_code == 200
    connection_row_delete(connection_id=Message.objects.get(media_id=media_id).connection_id)
    response = api_client.get(f"/api/v1/media/{media_id}")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert not Media.objects.filter(pk=media_id).exists() and not storage.exists(stored)


def test_media_no_message_refers_to_is_not_downloadable(api_client, api_key):
    media_id = _received_media(api_key, "page.html")
    Message.objects.filter(media_id=media_id).delete()  # what deleting a connection's messages leaves
    assert api_client.get(f"/api/v1/media/{media_id}").status_code == 404
