"""Every documented limit answers 413 or 400 in the one error shape, and the value at the limit passes."""

from __future__ import annotations

import base64

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.security.world import PNG_1PX, build_world

pytestmark = pytest.mark.django_db
PHONE = "+4915112345678"


@pytest.fixture
def world(short_waits, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return build_world("limits", "4915100000005")


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    return body["error"]


def _send(world, body, **extra):
    return world.client.post(f"/api/v1/connections/{world.connection_id}/messages", body, format="json", **extra)


def test_request_body_over_the_limit_is_413_before_the_view_reads_it(world, settings):
    settings.WILDCAT_MAX_BODY_BYTES = 2048
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    error = _error(_send(world, {"to": PHONE, "type": "text", "text": "x" * 3000}), 413)
    assert error["code"] == "payload_too_large" and error["details"] == {"limit": 2048}
    assert _send(world, {"to": PHONE, "type": "text", "text": "x" * 1500}).status_code == 202


def test_a_lying_content_length_is_a_400(world):
    response = world.client.post("/api/v1/webhooks", b"{}", content_type="application/json", CONTENT_LENGTH="abc")
    assert _error(response, 400)["message"] == "Content-Length is not a number."


def test_media_over_the_limit_is_413_by_upload_base64_or_multipart_body(world, settings):
    settings.WILDCAT_MAX_MEDIA_BYTES = 1024
    big = PNG_1PX + b"\0" * 2000
    upload = SimpleUploadedFile("big.png", big, content_type="image/png")
    url = f"/api/v1/connections/{world.connection_id}/messages"
    response = world.client.post(url, {"to": PHONE, "type": "image", "file": upload}, format="multipart")
    assert _error(response, 413)["code"] == "media_too_large"
    encoded = base64.b64encode(big).decode()
    response = _send(world, {"to": PHONE, "type": "image", "media": {"base64": encoded}})
    assert _error(response, 413)["code"] == "media_too_large"
    # A multipart body far beyond the media cap is refused from its Content-Length alone.
    huge = SimpleUploadedFile("huge.png", PNG_1PX + b"\0" * 200_000, content_type="image/png")
    response = world.client.post(url, {"to": PHONE, "type": "image", "file": huge}, format="multipart")
    assert _error(response, 413)["code"] == "payload_too_large"
    small = SimpleUploadedFile("small.png", PNG_1PX, content_type="image/png")
    response = world.client.post(url, {"to": PHONE, "type": "image", "file": small}, format="multipart")
    assert response.status_code == 202, response.content


def test_text_and_caption_lengths(world, settings):
    settings.WILDCAT_MAX_TEXT_LENGTH = 20
    settings.WILDCAT_MAX_CAPTION_LENGTH = 10
    assert "text" in _error(_send(world, {"to": PHONE, "type": "text", "text": "x" * 21}), 400)["details"]
    assert _send(world, {"to": PHONE, "type": "text", "text": "x" * 20}).status_code == 202
    image = {"base64": base64.b64encode(PNG_1PX).decode()}
    response = _send(world, {"to": PHONE, "type": "image", "media": image, "caption": "c" * 11})
    assert "caption" in _error(response, 400)["details"]
    message_id = _send(world, {"to": PHONE, "type": "text", "text": "short"}).json()["id"]
    edit = world.client.patch(f"/api/v1/messages/{message_id}", {"text": "y" * 21}, format="json")
    assert "text" in _error(edit, 400)["details"]


def test_array_sizes(world, settings):
    settings.WILDCAT_MAX_CHECK_NUMBERS = 3
    url = f"/api/v1/connections/{world.connection_id}/contacts/check"
    response = world.client.post(url, {"numbers": [PHONE] * 4}, format="json")
    assert "numbers" in _error(response, 400)["details"]
    poll = {"name": "lunch?", "options": [f"option {n}" for n in range(13)]}
    assert "poll" in _error(_send(world, {"to": PHONE, "type": "poll", "poll": poll}), 400)["details"]
    from wildcat.event_types import ALL_TYPES

    too_many = [*sorted(ALL_TYPES), "message.received"]
    body = {"url": "http://127.0.0.1:9/hook", "event_types": too_many}
    assert "event_types" in _error(world.client.post("/api/v1/webhooks", body, format="json"), 400)["details"]


@pytest.mark.parametrize("page_size", ["0", "-1", "201", "abc", "1e3"])
def test_page_size_outside_the_limit_is_400(world, page_size):
    response = world.client.get("/api/v1/connections", {"page_size": page_size})
    error = _error(response, 400)
    assert error["details"] == {"page_size": ["A whole number from 1 to 200."]}


def test_a_cursor_that_does_not_decode_is_400(world):
    error = _error(world.client.get("/api/v1/connections", {"cursor": "not-a-cursor"}), 400)
    assert error["details"] == {"cursor": ["Invalid cursor."]}


def test_page_size_at_the_limit_is_served(world, settings):
    settings.WILDCAT_MAX_PAGE_SIZE = 5
    assert world.client.get("/api/v1/connections", {"page_size": 5}).status_code == 200
    _error(world.client.get("/api/v1/connections", {"page_size": 6}), 400)
    events = world.client.get(f"/api/v1/connections/{world.connection_id}/events", {"page_size": 6})
    _error(events, 400)


def test_connections_per_key(world, settings, other_api_client):
    settings.WILDCAT_MAX_CONNECTIONS_PER_KEY = 3  # the world already has one
    for n in range(2):
        assert (
            world.client.post(
                "/api/v1/connections", {"name": f"extra-{n}", "driver": "sandbox"}, format="json"
            ).status_code
            == 201
        )
    response = world.client.post("/api/v1/connections", {"name": "one-too-many", "driver": "sandbox"}, format="json")
    assert _error(response, 400)["code"] == "limit_exceeded"
    # The limit is per key: another key still creates.
    assert (
        other_api_client.post("/api/v1/connections", {"name": "x", "driver": "sandbox"}, format="json").status_code
        == 201
    )


def test_webhooks_per_key(world, settings, other_api_client):
    settings.WILDCAT_MAX_WEBHOOKS_PER_KEY = 2  # the world already has one
    assert world.client.post("/api/v1/webhooks", {"url": "http://127.0.0.1:9/2"}, format="json").status_code == 201
    response = world.client.post("/api/v1/webhooks", {"url": "http://127.0.0.1:9/3"}, format="json")
    assert _error(response, 400)["code"] == "limit_exceeded"
    assert other_api_client.post("/api/v1/webhooks", {"url": "http://127.0.0.1:9/b"}, format="json").status_code == 201


def test_too_many_form_fields_is_a_400(world, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 50
    fields = {f"field{n}": "x" for n in range(60)}
    # The send is the one operation that takes multipart (uploads); the others take JSON only.
    error = _error(
        world.client.post(f"/api/v1/connections/{world.connection_id}/messages", fields, format="multipart"), 400
    )
    assert error["code"] == "malformed_body"
    assert "too many fields" in error["message"]
    error = _error(world.client.post("/api/v1/webhooks", fields, format="multipart"), 415)
    assert error["code"] == "unsupported_media_type"


def test_string_lengths_of_names_urls_and_headers(world):
    response = world.client.post("/api/v1/connections", {"name": "n" * 101, "driver": "sandbox"}, format="json")
    assert "name" in _error(response, 400)["details"]
    long_url = "http://127.0.0.1:9/" + "p" * 2000
    response = world.client.post("/api/v1/webhooks", {"url": long_url}, format="json")
    assert "url" in _error(response, 400)["details"]
    body = {"url": "http://127.0.0.1:9/d", "description": "d" * 201}
    assert "description" in _error(world.client.post("/api/v1/webhooks", body, format="json"), 400)["details"]
    response = _send(world, {"to": PHONE, "type": "text", "text": "hi"}, HTTP_IDEMPOTENCY_KEY="k" * 256)
    assert "Idempotency-Key" in _error(response, 400)["details"]


@pytest.mark.parametrize("depth", [33, 100_000], ids=["over-the-limit", "past-the-decoder-stack"])
def test_deeply_nested_json_is_a_400(world, depth):
    body = '{"url": "http://127.0.0.1:9/n", "description": ' + "[" * depth + "]" * depth + "}"
    for path in ("/api/v1/webhooks", f"/api/v1/connections/{world.connection_id}/messages"):
        error = _error(world.client.post(path, body, content_type="application/json"), 400)
        assert error["code"] == "malformed_body" and "nested too deeply" in error["message"]


def test_json_nested_to_the_limit_is_read(world):
    nested = "[" * 31 + "]" * 31  # 31 levels inside the top-level object: 32 in all
    body = '{"to": "+4915123456789", "type": "text", "text": "x", "reply_to": ' + nested + "}"
    error = _error(
        world.client.post(f"/api/v1/connections/{world.connection_id}/messages", body, content_type="application/json"),
        400,
    )
    assert "reply_to" in error["details"], "parsed, then refused by the field's own validation"
