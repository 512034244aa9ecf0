"""Validation of message requests, and the message shape the API returns."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from rest_framework import serializers

from messaging.media import MEDIA_TYPES
from messaging.payloads import message_payload
from messaging.recipients import recipient_to_jid
from messaging.services import SendRequest
from wildcat.errors import AppError, ErrorCode, message_failure_codes_text
from wildcat.phones import phone_e164
from wildcat.whatsapp import RECEIVE_ONLY_TYPES, MessageType

SENDABLE = [t.value for t in MessageType if t not in RECEIVE_ONLY_TYPES]


class StrictSerializer(serializers.Serializer):
    """Unknown fields are an error, so a typo never silently sends something else."""

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if isinstance(data, Mapping):
            unknown = set(data) - set(self.fields)
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
        return super().to_internal_value(data)


class MediaSourceSerializer(StrictSerializer):
    url = serializers.URLField(required=False, max_length=2000)
    base64 = serializers.CharField(required=False, trim_whitespace=True)
    mimetype = serializers.CharField(required=False, allow_blank=True, max_length=127)
    filename = serializers.CharField(required=False, allow_blank=True, max_length=255)


class LocationSerializer(StrictSerializer):
    latitude = serializers.FloatField(min_value=-90, max_value=90)
    longitude = serializers.FloatField(min_value=-180, max_value=180)
    name = serializers.CharField(required=False, allow_blank=True, max_length=255)
    address = serializers.CharField(required=False, allow_blank=True, max_length=500)


class ContactSerializer(StrictSerializer):
    name = serializers.CharField(max_length=255)
    phone = serializers.CharField(max_length=32)

    def validate_phone(self, value: str) -> str:
        try:
            return phone_e164(value)
        except AppError as exc:
            raise serializers.ValidationError(exc.message)


class PollSerializer(StrictSerializer):
    name = serializers.CharField(max_length=255)
    options = serializers.ListField(child=serializers.CharField(max_length=100), min_length=2, max_length=12)
    selectable_count = serializers.IntegerField(required=False, default=1, min_value=0, max_value=12)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if len(set(attrs["options"])) != len(attrs["options"]):
            raise serializers.ValidationError({"options": ["Options must be different from each other."]})
        if attrs["selectable_count"] > len(attrs["options"]):
            raise serializers.ValidationError({"selectable_count": ["More than the number of options."]})
        return attrs


class ReactionSerializer(StrictSerializer):
    message_id = serializers.CharField(max_length=128)
    emoji = serializers.CharField(allow_blank=True, max_length=16, trim_whitespace=False)


_TYPE_FIELDS = {"location": LocationSerializer, "contact": ContactSerializer, "poll": PollSerializer}


class SendSerializer(StrictSerializer):
    to = serializers.CharField(max_length=160)
    type = serializers.ChoiceField(choices=SENDABLE, default="text")
    text = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    caption = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    media = MediaSourceSerializer(required=False)
    file = serializers.FileField(required=False)
    mimetype = serializers.CharField(required=False, allow_blank=True, max_length=127)
    filename = serializers.CharField(required=False, allow_blank=True, max_length=255)
    voice_note = serializers.BooleanField(
        required=False,
        default=False,
        help_text="audio only: send a push-to-talk voice note; the audio must be Ogg/Opus (audio/ogg; codecs=opus).",
    )
    location = LocationSerializer(required=False)
    contact = ContactSerializer(required=False)
    poll = PollSerializer(required=False)
    reaction = ReactionSerializer(required=False)
    reply_to = serializers.CharField(required=False, max_length=128)

    def validate_to(self, value: str) -> str:
        try:
            return recipient_to_jid(value)
        except AppError as exc:
            raise serializers.ValidationError(exc.message, code=exc.code)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        kind = attrs["type"]
        if kind == "text":
            text = attrs.get("text") or ""
            if not text.strip():
                raise serializers.ValidationError({"text": ["A text message needs text."]})
            if len(text) > settings.WILDCAT_MAX_TEXT_LENGTH:
                raise serializers.ValidationError(
                    {"text": [f"At most {settings.WILDCAT_MAX_TEXT_LENGTH} characters (WhatsApp's limit)."]}
                )
        elif kind in MEDIA_TYPES:
            _check_media_fields(attrs)
        elif kind == "reaction" and "reaction" not in attrs:
            raise serializers.ValidationError({"reaction": ["A reaction needs message_id and emoji."]})
        elif kind in _TYPE_FIELDS and kind not in attrs:
            raise serializers.ValidationError({kind: [f"A {kind} message needs the {kind} object."]})
        return attrs

    def to_send_request(self) -> SendRequest:
        data = self.validated_data
        kind = data["type"]
        request = SendRequest(chat_jid=data["to"], type=kind, reply_to=data.get("reply_to", ""))
        if kind == "text":
            request.text = data["text"]
        elif kind in MEDIA_TYPES:
            _fill_media(request, data)
        elif kind == "reaction":
            request.reaction_target = data["reaction"]["message_id"]
            request.content = {"emoji": data["reaction"]["emoji"]}
        else:
            request.content = dict(data[kind])
            request.text = str(request.content.get("name", ""))
        return request


class SendJsonSerializer(SendSerializer):
    """A send as a JSON object: media comes as `media.base64` or `media.url`, never as a file."""

    file = None


class SendUploadSerializer(SendSerializer):
    """A send as multipart/form-data: one uploaded `file` and flat fields beside it."""

    type = serializers.ChoiceField(choices=sorted(MEDIA_TYPES))
    file = serializers.FileField()
    text = None
    media = None
    location = None
    contact = None
    poll = None
    reaction = None


_FAST_TEXT_FIELDS = frozenset({"to", "type", "text"})


def fast_text_request(data: Any) -> SendRequest | None:
    """The common case, a valid plain text message, checked without building the serializer.

    Anything unusual (another type, more fields, a non-string, any invalid value) returns None and
    goes through ``SendSerializer``, which gives the detailed errors; the rules are the same.
    """
    if not isinstance(data, dict) or not data.keys() <= _FAST_TEXT_FIELDS or data.get("type", "text") != "text":
        return None
    to, text = data.get("to"), data.get("text")
    if not isinstance(to, str) or not isinstance(text, str) or len(to) > 160 or "\x00" in text + to:
        return None
    if not text.strip() or len(text) > settings.WILDCAT_MAX_TEXT_LENGTH:
        return None
    try:
        return SendRequest(chat_jid=recipient_to_jid(to), type="text", text=text)
    except AppError:
        return None


def _check_media_fields(attrs: dict[str, Any]) -> None:
    media = attrs.get("media") or {}
    sources = [name for name in ("url", "base64") if media.get(name)] + (["file"] if attrs.get("file") else [])
    if len(sources) != 1:
        raise serializers.ValidationError(
            {"media": ["Give exactly one of: a multipart 'file', 'media.base64' or 'media.url'."]}
        )
    caption = attrs.get("caption", attrs.get("text", "")) or ""
    if attrs["type"] == "sticker" and caption:
        raise serializers.ValidationError({"caption": ["Stickers have no caption."]})
    if len(caption) > settings.WILDCAT_MAX_CAPTION_LENGTH:
        raise serializers.ValidationError({"caption": [f"At most {settings.WILDCAT_MAX_CAPTION_LENGTH} characters."]})


def _decode_base64(value: str) -> bytes:
    if value.startswith("data:") and "," in value:
        value = value.split(",", 1)[1]
    if len(value) * 3 // 4 > settings.WILDCAT_MAX_MEDIA_BYTES + 3:
        raise AppError(ErrorCode.MEDIA_TOO_LARGE, f"The media is larger than {settings.WILDCAT_MAX_MEDIA_BYTES} bytes.")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise serializers.ValidationError({"media": {"base64": ["Not valid base64."]}})


def _fill_media(request: SendRequest, data: dict[str, Any]) -> None:
    media = data.get("media") or {}
    upload = data.get("file")
    request.text = data.get("caption", data.get("text", "")) or ""
    request.media_mimetype = media.get("mimetype") or data.get("mimetype") or ""
    request.media_filename = media.get("filename") or data.get("filename") or ""
    if upload is not None:
        if upload.size > settings.WILDCAT_MAX_MEDIA_BYTES:
            raise AppError(
                ErrorCode.MEDIA_TOO_LARGE, f"The media is larger than {settings.WILDCAT_MAX_MEDIA_BYTES} bytes."
            )
        request.media_bytes = upload.read()
        request.media_mimetype = request.media_mimetype or upload.content_type or ""
        request.media_filename = request.media_filename or upload.name or ""
    elif media.get("base64"):
        request.media_bytes = _decode_base64(media["base64"])
    else:
        request.media_url = media["url"]
    if data["type"] == "audio":
        request.content = {"voice_note": bool(data.get("voice_note"))}


class EditSerializer(StrictSerializer):
    text = serializers.CharField(trim_whitespace=False)

    def validate_text(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("The new text is empty.")
        if len(value) > settings.WILDCAT_MAX_TEXT_LENGTH:
            raise serializers.ValidationError(f"At most {settings.WILDCAT_MAX_TEXT_LENGTH} characters.")
        return value


class PresenceSerializer(StrictSerializer):
    state = serializers.ChoiceField(choices=["typing", "recording", "paused"])


class ContactsCheckSerializer(StrictSerializer):
    numbers = serializers.ListField(child=serializers.CharField(max_length=40), min_length=1)

    def validate_numbers(self, value: list[str]) -> list[str]:
        if len(value) > settings.WILDCAT_MAX_CHECK_NUMBERS:
            raise serializers.ValidationError(f"At most {settings.WILDCAT_MAX_CHECK_NUMBERS} numbers per request.")
        return value


class HistoryFilterSerializer(serializers.Serializer):
    chat = serializers.CharField(required=False, max_length=160)
    direction = serializers.ChoiceField(required=False, choices=["inbound", "outbound"])
    type = serializers.ChoiceField(required=False, choices=[t.value for t in MessageType])
    status = serializers.ChoiceField(
        required=False, choices=["queued", "sending", "sent", "delivered", "read", "failed"]
    )
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    q = serializers.CharField(required=False, max_length=200)

    def validate_chat(self, value: str) -> str:
        try:
            return recipient_to_jid(value)
        except AppError as exc:
            raise serializers.ValidationError(exc.message)


class MediaInfoSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    mimetype = serializers.CharField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    filename = serializers.CharField(allow_blank=True)
    url = serializers.CharField(help_text="Download it with the same API key.")


class MessageErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text=f"Why the message failed. Published codes:\n{message_failure_codes_text()}")
    message = serializers.CharField(help_text="The driver's own words, for people.")


class MessageSerializer(serializers.Serializer):
    """Read-only: the one message shape (also used in webhook events).

    The fields document it in the schema; the output itself is ``message_payload``, shared with webhooks.
    """

    id = serializers.IntegerField()
    connection_id = serializers.IntegerField()
    wa_message_id = serializers.CharField()
    direction = serializers.ChoiceField(choices=["inbound", "outbound"])
    from_me = serializers.BooleanField()
    chat_jid = serializers.CharField()
    sender_jid = serializers.CharField(allow_blank=True)
    push_name = serializers.CharField(allow_blank=True)
    type = serializers.ChoiceField(choices=[(t.value, t.name) for t in MessageType])  # MessageTypeEnum
    text = serializers.CharField(allow_blank=True)
    content = serializers.JSONField(
        help_text=(
            "Type-specific fields. audio: mimetype, size, seconds, voice_note. video: mimetype, size, seconds, "
            "video_note. poll: name, options, selectable_count, and as votes arrive votes "
            "{voter_jid: {options, at}} and tally {option: count}. live_location: latitude, longitude, "
            "accuracy_meters, speed_mps, heading_degrees, sequence_number. contacts: contacts [{name, phone, "
            "vcard}]. group_invite: group_jid, group_name, invite_code, expires_at. unknown: fields (the "
            "WhatsApp field names) and message (the raw protobuf as JSON)."
        )
    )
    media = MediaInfoSerializer(allow_null=True)
    reply_to = serializers.IntegerField(allow_null=True, help_text="Wildcat id of the quoted message.")
    quoted_wa_message_id = serializers.CharField(allow_blank=True)
    reactions = serializers.JSONField()
    status = serializers.ChoiceField(choices=["queued", "sending", "sent", "delivered", "read", "failed"])
    error = MessageErrorSerializer(allow_null=True)
    attempts = serializers.IntegerField()
    timestamp = serializers.DateTimeField(allow_null=True)
    sent_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    read_at = serializers.DateTimeField(allow_null=True)
    failed_at = serializers.DateTimeField(allow_null=True)
    edited_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def to_representation(self, instance) -> dict[str, Any]:
        return message_payload(instance)


class ChatSerializer(serializers.Serializer):
    """A chat in the chat list: its JID and its newest message (schema only)."""

    chat_jid = serializers.CharField()
    last_message = MessageSerializer()
