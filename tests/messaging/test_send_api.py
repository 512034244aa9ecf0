"""Sending through the API: every type to sent, delivered and read; idempotency; ownership; bad input."""

from __future__ import annotations

import pytest

from messaging.models import Media, Message
from tests.accounts.factories import ConnectionFactory
from tests.messaging.samples import JPEG, MP4, OGG, OGG_OPUS, PDF, PNG, WEBP, b64

pytestmark = pytest.mark.django_db
PEER = "+49 151 23456789"
PEER_JID = "4915123456789@s.whatsapp.net"


def url(connection) -> str:
    return f"/api/v1/connections/{connection.pk}/messages"


def send(api_client, connection, body, **headers):
    return api_client.post(url(connection), body, format="json", **headers)


def every_type(phone_connection) -> list[dict]:
    return [
        {"to": PEER, "type": "text", "text": "hello"},
        {"to": PEER, "type": "image", "caption": "a picture", "media": {"base64": b64(PNG), "mimetype": "image/png"}},
        {"to": PEER, "type": "video", "media": {"base64": b64(MP4), "mimetype": "video/mp4"}},
        {"to": PEER, "type": "audio", "voice_note": True, "media": {"base64": b64(OGG_OPUS), "mimetype": "audio/ogg"}},
        {"to": PEER, "type": "audio", "media": {"base64": b64(OGG), "mimetype": "audio/ogg"}},
        {
            "to": PEER,
            "type": "document",
            "media": {"base64": b64(PDF), "filename": "a.pdf", "mimetype": "application/pdf"},
        },
        {"to": PEER, "type": "sticker", "media": {"base64": b64(WEBP)}},
        {"to": PEER, "type": "location", "location": {"latitude": 52.52, "longitude": 13.405, "name": "Berlin"}},
        {"to": PEER, "type": "contact", "contact": {"name": "Ada", "phone": "+4915123456780"}},
        {"to": PEER, "type": "poll", "poll": {"name": "Lunch?", "options": ["yes", "no"], "selectable_count": 1}},
    ]


def test_every_type_goes_queued_sent_delivered_read(api_client, phone):
    connection = phone.connection
    ids = []
    for body in every_type(connection):
        response = send(api_client, connection, body)
        assert response.status_code == 202, (body["type"], response.content)
        assert response.json()["status"] == "queued" and response.json()["wa_message_id"].startswith("3EB0")
        ids.append(response.json()["id"])
    first = Message.objects.get(pk=ids[0])
    reaction = send(
        api_client,
        connection,
        {"to": PEER, "type": "reaction", "reaction": {"message_id": str(first.pk), "emoji": "👍"}},
    )
    reply = send(api_client, connection, {"to": PEER, "type": "text", "text": "re", "reply_to": first.wa_message_id})
    assert reaction.status_code == 202 and reply.status_code == 202, (reaction.content, reply.content)
    assert phone.process() == len(ids) + 2
    statuses = dict(Message.objects.filter(pk__in=ids).values_list("pk", "status"))
    assert set(statuses.values()) == {"sent"}, statuses
    seen = {d.wa_message_id: d for d in phone.deliveries()}
    for message in Message.objects.filter(connection=connection):
        assert message.wa_message_id in seen, "the recipient got exactly this WhatsApp id"
        assert seen[message.wa_message_id].type == message.type
    image = Message.objects.get(pk=ids[1])
    assert seen[image.wa_message_id].media_size == len(PNG) and seen[image.wa_message_id].text == "a picture"
    assert seen[reply.json()["wa_message_id"]].content["reply_to"] == first.wa_message_id
    assert seen[reaction.json()["wa_message_id"]].content["target_wa_message_id"] == first.wa_message_id
    phone.deliver_receipts()
    final = dict(Message.objects.filter(pk__in=ids).values_list("type", "status"))
    assert set(final.values()) == {"read"}, final
    shown = api_client.get(f"/api/v1/messages/{ids[0]}").json()
    assert shown["status"] == "read" and shown["delivered_at"] and shown["read_at"] and shown["sent_at"]


def test_idempotency_same_body_replays_and_different_body_conflicts(api_client, connection):
    body = {"to": PEER, "type": "text", "text": "once"}
    first = send(api_client, connection, body, HTTP_IDEMPOTENCY_KEY="order-17")
    again = send(api_client, connection, body, HTTP_IDEMPOTENCY_KEY="order-17")
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    other = send(api_client, connection, {**body, "text": "twice"}, HTTP_IDEMPOTENCY_KEY="order-17")
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_conflict"
    assert Message.objects.filter(connection=connection).count() == 1
    fresh = send(api_client, connection, body, HTTP_IDEMPOTENCY_KEY="order-18")
    assert fresh.status_code == 202 and fresh.json()["id"] != first.json()["id"]


def test_another_keys_connection_and_message_are_404(api_client, other_api_client, connection):
    created = send(api_client, connection, {"to": PEER, "text": "mine"}).json()
    for response in (
        send(other_api_client, connection, {"to": PEER, "text": "theirs"}),
        other_api_client.get(url(connection)),
        other_api_client.get(f"/api/v1/messages/{created['id']}"),
        other_api_client.delete(f"/api/v1/messages/{created['id']}"),
        other_api_client.get(f"/api/v1/connections/{connection.pk}/chats"),
    ):
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert Message.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"to": PEER, "type": "carrier-pigeon", "text": "x"}, "type"),
        ({"to": PEER, "text": "nul\x00byte"}, "text"),
        ({"to": PEER, "text": "   "}, "text"),
        ({"to": PEER, "type": "text"}, "text"),
        ({"type": "text", "text": "x"}, "to"),
        ({"to": "12345", "text": "x"}, "to"),
        ({"to": "not a number", "text": "x"}, "to"),
        ({"to": "abc@example.com", "text": "x"}, "to"),
        ({"to": PEER, "text": "x", "colour": "red"}, "colour"),
        ({"to": PEER, "type": "image"}, "media"),
        ({"to": PEER, "type": "location", "location": {"latitude": 91, "longitude": 0}}, "location"),
        ({"to": PEER, "type": "poll", "poll": {"name": "p", "options": ["only"]}}, "poll"),
        ({"to": PEER, "type": "contact", "contact": {"name": "x", "phone": "12"}}, "contact"),
        ({"to": PEER, "type": "reaction"}, "reaction"),
        ({"to": PEER, "type": "text", "text": "x", "reply_to": "NOPE"}, "reply_to"),
        ({"to": PEER, "type": "image", "media": {"base64": "!!!not base64"}}, "media"),
    ],
)
def test_bad_input_is_a_clear_400_and_nothing_is_stored(api_client, connection, body, field):
    response = send(api_client, connection, body)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and field in error["details"], error
    assert not Message.objects.exists() and not Media.objects.exists()


def test_text_over_whatsapps_limit_is_refused(api_client, connection, settings):
    settings.WILDCAT_MAX_TEXT_LENGTH = 100
    assert send(api_client, connection, {"to": PEER, "text": "x" * 100}).status_code == 202
    response = send(api_client, connection, {"to": PEER, "text": "x" * 101})
    assert response.status_code == 400 and "text" in response.json()["error"]["details"]
    assert Message.objects.count() == 1


@pytest.mark.parametrize(
    ("kind", "data", "mimetype"),
    [
        ("image", PDF, "image/png"),
        ("image", b"just some text pretending", "image/jpeg"),
        ("video", PNG, "video/mp4"),
        ("audio", JPEG, "audio/ogg"),
        ("sticker", PNG, "image/webp"),
        ("document", PNG, "application/pdf"),
    ],
)
def test_media_that_is_not_what_it_claims_is_refused(api_client, connection, kind, data, mimetype):
    body = {"to": PEER, "type": kind, "media": {"base64": b64(data), "mimetype": mimetype, "filename": "f"}}
    response = send(api_client, connection, body)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "media_type_mismatch"
    assert not Message.objects.exists() and not Media.objects.exists()


WEBM = b"\x1a\x45\xdf\xa3" + b"\x00" * 60  # the EBML magic of Matroska/WebM
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 60


@pytest.mark.parametrize(("kind", "data"), [("video", WEBM), ("audio", WAV)], ids=["webm-video", "wav-audio"])
def test_formats_whatsapp_does_not_play_inline_go_as_documents(api_client, connection, kind, data):
    refused = send(api_client, connection, {"to": PEER, "type": kind, "media": {"base64": b64(data)}})
    assert refused.status_code == 400 and "send it as a document" in refused.json()["error"]["message"]
    document = {"base64": b64(data), "filename": f"clip.{'webm' if kind == 'video' else 'wav'}"}
    assert send(api_client, connection, {"to": PEER, "type": "document", "media": document}).status_code == 202


def test_media_over_the_cap_is_413(api_client, connection, settings):
    settings.WILDCAT_MAX_MEDIA_BYTES = 2048
    big = PDF + b"0" * 4096
    response = send(api_client, connection, {"to": PEER, "type": "document", "media": {"base64": b64(big)}})
    assert response.status_code == 413 and response.json()["error"]["code"] == "media_too_large"
    upload = api_client.post(
        url(connection),
        {"to": PEER, "type": "document", "file": _upload("big.pdf", big, "application/pdf")},
        format="multipart",
    )
    assert upload.status_code == 413, upload.content
    assert not Message.objects.exists() and not Media.objects.exists()


def _upload(name: str, data: bytes, content_type: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type=content_type)


def test_multipart_upload_is_stored_with_digest_and_served_back(api_client, connection):
    response = api_client.post(
        url(connection),
        {"to": PEER, "type": "image", "caption": "upload", "file": _upload("p.jpg", JPEG, "image/jpeg")},
        format="multipart",
    )
    assert response.status_code == 202, response.content
    media = response.json()["media"]
    import hashlib

    assert media["sha256"] == hashlib.sha256(JPEG).hexdigest() and media["mimetype"] == "image/jpeg"
    download = api_client.get(media["url"])
    assert download.status_code == 200 and download["Content-Type"] == "image/jpeg"
    assert b"".join(download.streaming_content) == JPEG


@pytest.mark.parametrize("status", ["logged_out", "auth_failed"])
def test_send_to_a_connection_that_cannot_become_ready_is_409(api_client, api_key, status):
    connection = ConnectionFactory(api_key=api_key, ready=True, status=status)
    response = send(api_client, connection, {"to": PEER, "text": "x"})
    assert response.status_code == 409 and response.json()["error"]["code"] == "connection_not_ready"
    never_linked = ConnectionFactory(api_key=api_key, ready=True, status="pending", authenticated_at=None)
    assert send(api_client, never_linked, {"to": PEER, "text": "x"}).status_code == 409
    assert not Message.objects.exists()


def _not_ready_message(api_client, connection) -> str:
    response = send(api_client, connection, {"to": PEER, "text": "x"})
    assert response.status_code == 409 and response.json()["error"]["code"] == "connection_not_ready"
    return response.json()["error"]["message"]


def test_connection_not_ready_says_the_next_step(api_client, api_key):
    stopped = ConnectionFactory(
        api_key=api_key, ready=True, status="not_started", authenticated_at=None, desired_state="stopped"
    )
    base = f"/api/v1/connections/{stopped.pk}"
    message = _not_ready_message(api_client, stopped)
    assert "never been linked" in message and f"start it (POST {base}/start), then" in message
    assert f"GET {base}/qr" in message and f"POST {base}/pair-code" in message
    started = ConnectionFactory(
        api_key=api_key, ready=True, status="pending", authenticated_at=None, desired_state="running"
    )
    message = _not_ready_message(api_client, started)
    assert "start it" not in message and f"/api/v1/connections/{started.pk}/qr" in message and "pair" in message
    logged_out = ConnectionFactory(api_key=api_key, ready=True, status="logged_out", desired_state="stopped")
    message = _not_ready_message(api_client, logged_out)
    assert "is logged_out" in message and "/start" in message and "/qr" in message
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"to": "12345", "text": "x"}, "to"),
        ({"to": "0151 12345678", "text": "x"}, "to"),  # no plus: phonenumbers would say "after plus-sign"
        ({"to": "+99912345678", "text": "x"}, "to"),
        ({"to": PEER, "type": "contact", "contact": {"name": "Ada", "phone": "0151 2345"}}, "contact"),
    ],
)
def test_a_bad_phone_number_is_told_the_format_with_an_example(api_client, connection, body, field):
    response = send(api_client, connection, body)
    assert response.status_code == 400, response.content
    details = response.json()["error"]["details"][field]
    problem = details["phone"][0] if field == "contact" else details[0]
    assert "international format" in problem and "e.g. +4915112345678" in problem, problem
    assert "plus-sign" not in response.content.decode() and "(0)" not in response.content.decode()


def test_send_to_a_disconnected_connection_is_queued(api_client, api_key):
    connection = ConnectionFactory(api_key=api_key, ready=True, status="disconnected")
    response = send(api_client, connection, {"to": PEER, "text": "later"})
    assert response.status_code == 202 and response.json()["status"] == "queued"


def test_group_jid_is_a_recipient(api_client, phone):
    group = f"120363{phone.connection.pk:011d}1@g.us"
    response = send(api_client, phone.connection, {"to": group, "text": "hi all"})
    assert response.status_code == 202 and response.json()["chat_jid"] == group
    phone.process()
    assert Message.objects.get().status == "sent"
    assert phone.deliveries().get().chat_jid == group


def test_a_plain_text_send_stores_the_row_the_model_would(api_client, connection):
    response = send(api_client, connection, {"to": PEER, "text": "plain"})
    assert response.status_code == 202
    stored = Message.objects.get(pk=response.json()["id"])
    assert response.json()["wa_message_id"] == stored.wa_message_id
    assert (stored.status, stored.type, stored.text, stored.chat_jid) == ("queued", "text", "plain", PEER_JID)
    assert (stored.content, stored.raw, stored.reactions, stored.first_response) == ({}, {}, {}, None)
    assert stored.idempotency_key is None and stored.attempts == 0 and stored.from_me
    assert stored.created_at is not None and 0 <= (stored.updated_at - stored.created_at).total_seconds() < 1
    # The same fields written through the model for comparison: nothing differs but the generated ones.
    twin = Message.objects.get(pk=stored.pk)
    twin.pk = None
    twin.wa_message_id = "TWIN"
    twin.save()
    ignored = {"id", "wa_message_id", "created_at", "updated_at"}
    fields = [f.attname for f in Message._meta.concrete_fields if f.attname not in ignored]
    assert (
        Message.objects.filter(pk=stored.pk).values(*fields).get()
        == Message.objects.filter(pk=twin.pk).values(*fields).get()
    )


@pytest.mark.parametrize(
    ("sample", "detected"), [(OGG, "audio/ogg"), (b"ID3\x03\x00" + b"\x00" * 60, "audio/mpeg")], ids=["vorbis", "mp3"]
)
def test_a_voice_note_must_be_ogg_opus_and_is_stored_with_the_exact_mimetype_phones_play(
    api_client, phone, sample, detected
):
    connection = phone.connection
    refused = send(
        api_client, connection, {"to": PEER, "type": "audio", "voice_note": True, "media": {"base64": b64(sample)}}
    )
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert (
        error["code"] == "media_type_mismatch"
        and detected in error["message"]
        and "voice_note false" in error["message"]
    )
    assert not Message.objects.filter(connection=connection).exists()
    voice = send(
        api_client, connection, {"to": PEER, "type": "audio", "voice_note": True, "media": {"base64": b64(OGG_OPUS)}}
    )
    assert voice.status_code == 202, voice.content
    stored = Message.objects.get(pk=voice.json()["id"])
    assert stored.media.mimetype == "audio/ogg; codecs=opus" and stored.content["voice_note"] is True
