"""Admin for webhooks: endpoint health with re-enable, deliveries with their attempt log and replay."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from webhooks import selectors, services
from webhooks.models import DeliveryAttempt, WebhookDelivery, WebhookEndpoint


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = [
        "url",
        "api_key",
        "connection",
        "enabled_badge",
        "success_rate",
        "last_success_at",
        "last_failure_at",
        "disabled_reason",
        "created_at",
    ]
    list_filter = ["enabled"]
    search_fields = ["url", "description", "api_key__label"]
    list_select_related = ["api_key", "connection"]
    fields = [
        "api_key",
        "connection",
        "url",
        "description",
        "event_types",
        "enabled",
        "disabled_reason",
        "disabled_at",
        "failing_since",
        "last_success_at",
        "last_failure_at",
        "last_failure_reason",
        "previous_secret_expires_at",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields
    actions = ["enable_selected", "disable_selected"]
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookEndpoint]:
        return selectors.endpoints_with_health()

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Endpoints belong to an integrator's key and get their secret through the API.
        return False

    @admin.display(description="Enabled", ordering="enabled")
    def enabled_badge(self, obj: WebhookEndpoint) -> str:
        state, label = ("active", "Enabled") if obj.enabled else ("revoked", "Disabled")
        return format_html('<span class="wc-badge wc-badge--{}">{}</span>', state, label)

    @admin.display(description="Success rate")
    def success_rate(self, obj: WebhookEndpoint) -> str:
        finished = getattr(obj, "finished_count", 0)
        if not finished:
            return "–"
        return f"{100 * obj.delivered_count / finished:.0f}% of {finished}"

    @admin.action(description="Re-enable selected endpoints")
    def enable_selected(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        count = 0
        for endpoint in queryset.filter(enabled=False):
            services.endpoint_enable(endpoint=endpoint)
            count += 1
        self.message_user(request, f"Re-enabled {count} endpoint(s).", messages.SUCCESS)

    @admin.action(description="Disable selected endpoints")
    def disable_selected(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        ids = list(queryset.filter(enabled=True).values_list("id", flat=True))
        for endpoint_id in ids:
            services.endpoint_disable(endpoint_id=endpoint_id, reason=f"Disabled by {request.user} in the admin.")
        self.message_user(request, f"Disabled {len(ids)} endpoint(s).", messages.SUCCESS)


class AttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    fields = ["number", "started_at", "duration_ms", "status_code", "success", "error", "response_excerpt"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["number"]

    def has_add_permission(self, request: HttpRequest, obj: WebhookDelivery | None = None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "message_id",
        "event_type",
        "endpoint",
        "status",
        "attempt_count",
        "last_status_code",
        "next_attempt_at",
        "created_at",
    ]
    list_filter = ["status", "event__type", "endpoint__enabled"]
    search_fields = ["message_id", "endpoint__url"]
    list_select_related = ["event", "endpoint"]
    fields = [
        "message_id",
        "endpoint",
        "event_type",
        "status",
        "attempt_count",
        "retry_step",
        "next_attempt_at",
        "dispatched_at",
        "last_status_code",
        "last_error",
        "delivered_at",
        "created_at",
        "payload",
    ]
    readonly_fields = fields
    inlines = [AttemptInline]
    actions = ["replay_selected"]
    show_full_result_count = False
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="Event type", ordering="event__type")
    def event_type(self, obj: WebhookDelivery) -> str:
        return obj.event.type

    @admin.display(description="Payload")
    def payload(self, obj: WebhookDelivery) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.event.payload, indent=2, ensure_ascii=False))

    @admin.action(description="Replay selected deliveries")
    def replay_selected(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        replayed = skipped = 0
        for delivery in queryset.select_related("endpoint"):
            if not delivery.endpoint.enabled or delivery.status == WebhookDelivery.Status.SENDING:
                skipped += 1
                continue
            services.delivery_replay(delivery=delivery)
            replayed += 1
        level = messages.SUCCESS if not skipped else messages.WARNING
        note = f"; skipped {skipped} (disabled endpoint or being sent)" if skipped else ""
        self.message_user(request, f"Replayed {replayed} deliveries{note}.", level)
