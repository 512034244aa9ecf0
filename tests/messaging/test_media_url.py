"""Media given as a URL is fetched by Wildcat through the guarded outbound module, from a real local server."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from messaging.models import Media, Message
from tests.messaging.samples import JPEG, PDF
from tests.support.processes import wait_until
from tests.support.trickle import trickling
from wildcat import outbound

pytestmark = pytest.mark.django_db
PEER = "+4915123456789"
FILES = {
    "/photo.jpg": (JPEG, "image/jpeg"),
    "/fake.jpg": (b"<html>surprise</html>", "image/jpeg"),
    "/big.pdf": (PDF + b"0" * 8192, "application/pdf"),
}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        body, content_type = FILES.get(self.path, (b"missing", "text/plain"))
        self.send_response(200 if self.path in FILES else 404)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def media_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _url(server, path: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def _send(api_client, connection, kind: str, media_url: str):
    body = {"to": PEER, "type": kind, "media": {"url": media_url}}
    return api_client.post(f"/api/v1/connections/{connection.pk}/messages", body, format="json")


def test_a_media_url_is_fetched_and_stored(api_client, connection, media_server, settings):
    settings.WILDCAT_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    response = _send(api_client, connection, "image", _url(media_server, "/photo.jpg"))
    assert response.status_code == 202, response.content
    assert media_server.requests == ["/photo.jpg"]
    media = Message.objects.get().media
    assert media.mimetype == "image/jpeg" and media.size == len(JPEG)
    with media.file.open("rb") as handle:
        assert handle.read() == JPEG


def test_a_private_url_is_refused_without_being_contacted(api_client, connection, media_server, settings):
    settings.WILDCAT_WEBHOOK_ALLOWED_NETWORKS = []
    response = _send(api_client, connection, "image", _url(media_server, "/photo.jpg"))
    assert response.status_code == 400 and response.json()["error"]["code"] == "media_url_refused"
    assert media_server.requests == []
    assert not Message.objects.exists() and not Media.objects.exists()


def test_url_media_that_lies_or_is_too_big_is_refused(api_client, connection, media_server, settings):
    settings.WILDCAT_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.WILDCAT_MAX_MEDIA_BYTES = 4096
    lying = _send(api_client, connection, "image", _url(media_server, "/fake.jpg"))
    assert lying.status_code == 400 and lying.json()["error"]["code"] == "media_type_mismatch"
    big = _send(api_client, connection, "document", _url(media_server, "/big.pdf"))
    assert big.status_code == 413 and big.json()["error"]["code"] == "media_too_large"
    missing = _send(api_client, connection, "document", _url(media_server, "/nothing.pdf"))
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "media_fetch_failed"
    assert not Message.objects.exists() and not Media.objects.exists()


def test_media_urls_fetched_at_once_are_capped_per_key(api_client, api_key, connection, media_server, settings):
    """A slow URL holds the key's one fetch slot: the next send with a URL is refused at once, with Retry-After."""
    settings.WILDCAT_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.WILDCAT_MEDIA_FETCH_MAX_CONCURRENT_PER_KEY = 1
    settings.WILDCAT_MEDIA_FETCH_TIMEOUT = 1.5
    with trickling(interval=0.2) as slow:
        holder = threading.Thread(target=_fetch_quietly, args=(f"{slow.url}/slow.jpg", api_key.pk), daemon=True)
        holder.start()
        wait_until(lambda: slow.count() == 1, timeout=5, message="the slow fetch holds the key's slot")
        started = time.monotonic()
        busy = _send(api_client, connection, "image", _url(media_server, "/photo.jpg"))
        assert time.monotonic() - started < 1.0
        holder.join(timeout=5)
    assert busy.status_code == 429 and busy.json()["error"]["code"] == "throttled"
    assert int(busy["Retry-After"]) >= 1 and "media" in busy.json()["error"]["message"]
    assert media_server.requests == [] and not Message.objects.exists()
    # The slot came back when the slow fetch was cut at its deadline.
    assert _send(api_client, connection, "image", _url(media_server, "/photo.jpg")).status_code == 202


def _fetch_quietly(url: str, api_key_id: int) -> None:
    with contextlib.suppress(outbound.OutboundError):
        outbound.fetch(url, max_bytes=1024, timeout=1.5, owner=f"key:{api_key_id}")
