"""Serializers of the connections API: what goes in and what comes out."""

from __future__ import annotations

import base64
import binascii
import json

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import ConnectionEvent, SessionCommand, WaConnection
from accounts.selectors import connection_current_qr, connection_not_starting_reason
from wildcat.errors import AppError
from wildcat.phones import EXAMPLE, phone_e164
from wildcat.whatsapp import MessageType


class AccountSerializer(serializers.Serializer):
    phone_number = serializers.CharField()
    whatsapp_id = serializers.CharField()
    profile_name = serializers.CharField()
    platform = serializers.CharField()
    profile_picture_url = serializers.CharField()
    status_message = serializers.CharField()


class ConnectionSerializer(serializers.ModelSerializer):
    step = serializers.CharField(source="connection_step")
    account = serializers.SerializerMethodField()
    qr_available = serializers.SerializerMethodField()
    not_starting_reason = serializers.SerializerMethodField(
        help_text="Why a connection that should run cannot start (no worker can host sessions); empty otherwise."
    )

    class Meta:
        model = WaConnection
        fields = [
            "id",
            "name",
            "driver",
            "status",
            "step",
            "desired_state",
            "presence",
            "account",
            "error",
            "disconnect_reason",
            "retry_at",
            "qr_available",
            "not_starting_reason",
            "last_qr_at",
            "qr_expires_at",
            "pair_code",
            "pair_code_at",
            "authenticated_at",
            "ready_at",
            "auth_failed_at",
            "disconnected_at",
            "logged_out_at",
            "last_seen",
            "last_activity_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(AccountSerializer)
    def get_account(self, obj: WaConnection) -> dict:
        return {name: getattr(obj, name) for name in AccountSerializer().fields}

    def get_qr_available(self, obj: WaConnection) -> bool:
        return connection_current_qr(obj) is not None

    def get_not_starting_reason(self, obj: WaConnection) -> str:
        return connection_not_starting_reason(obj, hosts_cache=self.context.setdefault("session_hosts_cache", {}))


PRESENCE_HELP = (
    "What the session tells WhatsApp once connected (neonize). `unavailable` (the default) keeps the "
    "phone's notifications; `available` marks the account online, which silences them. Delivery receipts "
    "(two grey ticks) are sent either way."
)


class ConnectionCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, help_text="Unique per API key.")
    driver = serializers.ChoiceField(choices=WaConnection.Driver.choices)
    presence = serializers.ChoiceField(
        choices=WaConnection.Presence.choices, default=WaConnection.Presence.UNAVAILABLE, help_text=PRESENCE_HELP
    )

    def validate_name(self, value: str) -> str:
        limit = min(settings.WILDCAT_CONNECTION_NAME_MAX, 100)
        if len(value.strip()) > limit:
            raise serializers.ValidationError(f"At most {limit} characters.")
        return value.strip()


class ConnectionUpdateSerializer(serializers.Serializer):
    presence = serializers.ChoiceField(choices=WaConnection.Presence.choices, help_text=PRESENCE_HELP)

    def to_internal_value(self, data: dict) -> dict:
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError(
                {name: ["Unknown field; only presence can be changed."] for name in unknown}
            )
        return super().to_internal_value(data)


class ConnectionEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = ConnectionEvent
        fields = ["id", "kind", "from_status", "to_status", "detail", "created_at"]
        read_only_fields = fields


class QrSerializer(serializers.Serializer):
    qr = serializers.CharField(help_text="The raw QR string, for rendering it yourself.")
    png = serializers.CharField(help_text="The QR as a data:image/png;base64 URL.")
    expires_at = serializers.DateTimeField(allow_null=True)


class SessionCommandSerializer(serializers.ModelSerializer):
    class Meta:
        model = SessionCommand
        fields = ["id", "kind", "status", "result", "error", "attempts", "created_at", "updated_at"]
        read_only_fields = fields


class ActionResultSerializer(serializers.Serializer):
    connection = ConnectionSerializer()
    command = SessionCommandSerializer(allow_null=True)


class CommandResultSerializer(serializers.Serializer):
    command = SessionCommandSerializer()
    result = serializers.JSONField(allow_null=True, help_text="The session's answer; null until it is done.")


class PairCodeRequestSerializer(serializers.Serializer):
    phone = serializers.CharField(max_length=64, allow_blank=True, help_text=f"International format, e.g. {EXAMPLE}.")

    def validate_phone(self, value: str) -> str:
        try:
            return phone_e164(value)
        except AppError as exc:
            raise serializers.ValidationError(exc.message)


class SandboxScanSerializer(serializers.Serializer):
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True, help_text="The fake phone's number.")
    profile_name = serializers.CharField(max_length=200, required=False, allow_blank=True)


class InjectMessageSerializer(serializers.Serializer):
    sender = serializers.RegexField(
        r"^\+?[0-9]{7,15}(@s\.whatsapp\.net)?$", help_text="Phone (+4915112345678) or JID of the sender."
    )
    type = serializers.ChoiceField(choices=[t.value for t in MessageType], default=MessageType.TEXT.value)
    text = serializers.CharField(required=False, allow_blank=True, default="")
    group_jid = serializers.RegexField(r"^\d{5,40}@g\.us$", required=False, allow_blank=True, default="")
    push_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    media_base64 = serializers.CharField(required=False, allow_blank=True, default="")
    mimetype = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    filename = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    content = serializers.DictField(required=False, default=dict, help_text="Type-specific fields (location, …).")
    wa_message_id = serializers.RegexField(r"^[A-Za-z0-9]{1,64}$", required=False, allow_blank=True, default="")
    quoted_wa_message_id = serializers.CharField(max_length=128, required=False, allow_blank=True, default="")

    def validate_content(self, value: dict) -> dict:
        encoded = json.dumps(value)
        if "\\u0000" in encoded:
            raise serializers.ValidationError("Null characters are not allowed.")
        if len(encoded) > settings.WILDCAT_MAX_TEXT_LENGTH:
            raise serializers.ValidationError("Too large.")
        return value

    def validate_text(self, value: str) -> str:
        if len(value) > settings.WILDCAT_MAX_TEXT_LENGTH:
            raise serializers.ValidationError(f"At most {settings.WILDCAT_MAX_TEXT_LENGTH} characters.")
        return value

    def validate_media_base64(self, value: str) -> str:
        if not value:
            return value
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise serializers.ValidationError("Not valid base64.")
        if len(raw) > settings.WILDCAT_MAX_MEDIA_BYTES:
            raise serializers.ValidationError(f"Media is larger than {settings.WILDCAT_MAX_MEDIA_BYTES} bytes.")
        return value

    def validate(self, attrs: dict) -> dict:
        if attrs["type"] == MessageType.TEXT and not attrs.get("text"):
            raise serializers.ValidationError({"text": "A text message needs text."})
        return attrs


class InjectDisconnectSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=100, required=False, default="connection_lost")
    reconnect_after = serializers.FloatField(
        required=False, allow_null=True, default=None, min_value=0, max_value=3600, help_text="Seconds."
    )


class InjectBanSerializer(serializers.Serializer):
    seconds = serializers.FloatField(required=False, allow_null=True, default=None, min_value=0, max_value=86400)
    code = serializers.IntegerField(required=False, default=101, min_value=0, max_value=999)


class EmptySerializer(serializers.Serializer):
    pass
