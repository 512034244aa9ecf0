"""Request and response shapes of the webhooks API."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import WaConnection
from webhooks.models import DeliveryAttempt, WebhookDelivery, WebhookEndpoint
from wildcat import destinations
from wildcat.event_types import EVENT_TYPE_VALUES

EVENT_TYPE_CHOICES = EVENT_TYPE_VALUES
MAX_URL_LENGTH = 2000


@extend_schema_field(OpenApiTypes.URI)
class DestinationUrlField(serializers.CharField):
    """An http(s) URL; checked by the SSRF guard rather than Django's URLValidator (internal names are fine)."""


class EndpointSerializer(serializers.ModelSerializer):
    connection_id = serializers.IntegerField(allow_null=True)
    event_types = serializers.ListField(child=serializers.ChoiceField(choices=EVENT_TYPE_CHOICES))

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "description",
            "event_types",
            "connection_id",
            "enabled",
            "disabled_reason",
            "disabled_at",
            "last_success_at",
            "last_failure_at",
            "last_failure_reason",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class EndpointWithSecretSerializer(EndpointSerializer):
    secret = serializers.CharField(help_text="Shown only in this response. Keep it to verify signatures.")

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class EndpointWriteSerializer(serializers.Serializer):
    url = DestinationUrlField(max_length=MAX_URL_LENGTH)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_TYPE_CHOICES),
        required=False,
        default=list,
        max_length=len(EVENT_TYPE_CHOICES),
        help_text="Event types to receive; empty means all of them.",
    )
    connection_id = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=1, help_text="Only events of this connection."
    )

    def validate_url(self, value: str) -> str:
        try:
            destinations.validate_url(value)
        except destinations.UnsafeDestination as exc:
            raise serializers.ValidationError(f"This destination is not allowed: {exc.message}")
        return value

    def validate_connection_id(self, value: int | None) -> int | None:
        api_key_id = self.context["request"].auth.pk
        if value is not None and not WaConnection.objects.filter(pk=value, api_key_id=api_key_id).exists():
            raise serializers.ValidationError("No such connection.")
        return value


class EndpointUpdateSerializer(EndpointWriteSerializer):
    url = DestinationUrlField(max_length=MAX_URL_LENGTH, required=False)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_TYPE_CHOICES), required=False, max_length=len(EVENT_TYPE_CHOICES)
    )
    connection_id = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    enabled = serializers.BooleanField(required=False)


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = ["number", "started_at", "duration_ms", "status_code", "success", "error", "response_excerpt"]
        read_only_fields = fields


class DeliverySerializer(serializers.ModelSerializer):
    webhook_id = serializers.CharField(source="message_id", help_text="The webhook-id header; stable across retries.")
    endpoint_id = serializers.IntegerField()
    event_id = serializers.IntegerField()
    event_type = serializers.CharField(source="event.type")

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "webhook_id",
            "endpoint_id",
            "event_id",
            "event_type",
            "status",
            "attempt_count",
            "next_attempt_at",
            "last_status_code",
            "last_error",
            "delivered_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class DeliveryDetailSerializer(DeliverySerializer):
    payload = serializers.SerializerMethodField()
    attempts = AttemptSerializer(many=True)

    class Meta(DeliverySerializer.Meta):
        fields = [*DeliverySerializer.Meta.fields, "payload", "attempts"]
        read_only_fields = fields

    @extend_schema_field({"type": "object", "additionalProperties": True})
    def get_payload(self, delivery: WebhookDelivery) -> dict:
        return delivery.event.payload


class DeliveryFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=WebhookDelivery.Status.choices, required=False)
    type = serializers.ChoiceField(choices=EVENT_TYPE_CHOICES, required=False)


class ReplaySinceSerializer(serializers.Serializer):
    since = serializers.DateTimeField(help_text="Replay failed and exhausted deliveries created at or after this.")


class ReplayedSerializer(serializers.Serializer):
    replayed = serializers.IntegerField()


class EventTypeSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=EVENT_TYPE_CHOICES)
    description = serializers.CharField()
    data_schema = serializers.JSONField(help_text="JSON Schema of the envelope's `data`.")
