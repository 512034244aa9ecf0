"""Admin for webhooks: endpoint health with re-enable, deliveries with their attempt log and replay."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from webhooks import selectors, services
from webhooks.admin_forms import EndpointCreateForm, ReplaySinceForm
from webhooks.models import DeliveryAttempt, WebhookDelivery, WebhookEndpoint
from wildcat.one_time_secrets import one_time_secret_stash, one_time_secret_take

_REVEAL_SESSION_KEY = "webhooks:reveal"
# Endpoint and delivery pages are read-only: no Save buttons, only the actions the page offers.
READ_ONLY_PAGE = {"show_save": False, "show_save_and_continue": False, "show_save_and_add_another": False}
RECENT_DELIVERIES = 10


def delivery_badge(delivery: WebhookDelivery) -> str:
    return format_html(
        '<span class="wc-badge wc-badge--{}" data-status="{}">{}</span>',
        delivery.status,
        delivery.status,
        delivery.get_status_display(),
    )


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
        "event_types_display",
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

    change_form_template = "admin/webhooks/webhookendpoint/change_form.html"

    def get_form(self, request: HttpRequest, obj: WebhookEndpoint | None = None, **kwargs):
        if obj is None:
            kwargs["form"] = EndpointCreateForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request: HttpRequest, obj: WebhookEndpoint | None = None) -> list[str]:
        return list(EndpointCreateForm.Meta.fields) if obj is None else self.fields

    def get_readonly_fields(self, request: HttpRequest, obj: WebhookEndpoint | None = None) -> list[str]:
        return [] if obj is None else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: WebhookEndpoint, form: forms.ModelForm, change: bool) -> None:
        if change:
            return
        data = form.cleaned_data
        endpoint, secret = services.endpoint_create(
            api_key_id=data["api_key"].pk,
            url=data["url"],
            event_types=data["event_types"],
            connection_id=data["connection"].pk if data["connection"] else None,
            description=data["description"],
        )
        obj.pk = endpoint.pk
        obj.__dict__.update(endpoint.__dict__)
        one_time_secret_stash(request, slot=_REVEAL_SESSION_KEY, object_id=endpoint.pk, secret=secret)

    def response_add(self, request: HttpRequest, obj: WebhookEndpoint, post_url_continue: str | None = None):
        """Land on the endpoint's page, where its signing secret is shown once."""
        self.message_user(request, f"Webhook endpoint {obj.url} was created.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:webhooks_webhookendpoint_change", args=[obj.pk]))

    def delete_model(self, request: HttpRequest, obj: WebhookEndpoint) -> None:
        services.endpoint_delete(endpoint=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        # "Delete selected" goes through the service too, so every deletion is audited.
        for endpoint in queryset:
            services.endpoint_delete(endpoint=endpoint)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:object_id>/test/", wrap(require_POST(self.send_test_view)), name="webhooks_endpoint_test"),
            path(
                "<int:object_id>/replay/", wrap(require_POST(self.replay_since_view)), name="webhooks_endpoint_replay"
            ),
            *super().get_urls(),
        ]

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        extra_context = dict(extra_context or {})
        revealed = one_time_secret_take(request, slot=_REVEAL_SESSION_KEY, object_id=object_id)
        if revealed:
            extra_context["revealed_secret"] = revealed
        endpoint = self.get_object(request, object_id)
        if endpoint is not None:
            extra_context.setdefault("replay_form", ReplaySinceForm())
            extra_context.update(
                READ_ONLY_PAGE,
                endpoint=endpoint,
                endpoint_badge=self.enabled_badge(endpoint),
                endpoint_finished=getattr(endpoint, "finished_count", 0),
                endpoint_delivered=getattr(endpoint, "delivered_count", 0),
                recent_deliveries=[
                    (delivery, delivery_badge(delivery))
                    for delivery in selectors.deliveries_for_endpoint(endpoint=endpoint)[:RECENT_DELIVERIES]
                ],
                deliveries_url=reverse("admin:webhooks_webhookdelivery_changelist")
                + f"?endpoint__id__exact={endpoint.pk}",
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def _endpoint_for_change(self, request: HttpRequest, object_id: int) -> WebhookEndpoint:
        if not self.has_change_permission(request):
            raise PermissionDenied
        return get_object_or_404(WebhookEndpoint, pk=object_id)

    def send_test_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        endpoint = self._endpoint_for_change(request, object_id)
        if not endpoint.enabled:
            self.message_user(request, "The endpoint is disabled; enable it first.", messages.ERROR)
        else:
            delivery = services.endpoint_send_test(endpoint=endpoint)
            link = reverse("admin:webhooks_webhookdelivery_change", args=[delivery.pk])
            notice = (
                'Test event queued for {}. Follow it on <a href="{}">its delivery page</a>: the attempt and the '
                "receiver's answer show there within seconds (and under Recent deliveries below)."
            )
            self.message_user(request, format_html(notice, endpoint.url, link), messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:webhooks_webhookendpoint_change", args=[endpoint.pk]))

    def replay_since_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        endpoint = self._endpoint_for_change(request, object_id)
        form = ReplaySinceForm(request.POST)
        if not form.is_valid():
            request.method = "GET"  # show the endpoint page again with the error next to the field
            return self.change_view(request, str(endpoint.pk), extra_context={"replay_form": form})
        if not endpoint.enabled:
            self.message_user(request, "The endpoint is disabled; enable it before replaying.", messages.ERROR)
        else:
            count = services.endpoint_replay_since(endpoint=endpoint, since=form.cleaned_data["since"])
            self.message_user(request, f"Replaying {count} failed deliveries.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:webhooks_webhookendpoint_change", args=[endpoint.pk]))

    @admin.display(description="Enabled", ordering="enabled")
    def enabled_badge(self, obj: WebhookEndpoint) -> str:
        state, label = ("active", "Enabled") if obj.enabled else ("revoked", "Disabled")
        return format_html('<span class="wc-badge wc-badge--{}">{}</span>', state, label)

    @admin.display(description="Event types")
    def event_types_display(self, obj: WebhookEndpoint) -> str:
        return ", ".join(obj.event_types) or "all event types"

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
        "status_badge",
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

    change_form_template = "admin/webhooks/webhookdelivery/change_form.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: WebhookDelivery) -> str:
        return delivery_badge(obj)

    def get_urls(self):
        replay = self.admin_site.admin_view(require_POST(self.replay_view))
        return [path("<int:object_id>/replay/", replay, name="webhooks_delivery_replay"), *super().get_urls()]

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        delivery = self.get_object(request, object_id)
        extra_context = dict(extra_context or {})
        if delivery is not None:
            extra_context.update(READ_ONLY_PAGE, delivery=delivery, delivery_badge=delivery_badge(delivery))
        return super().change_view(request, object_id, form_url, extra_context)

    def replay_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """Send this delivery again now, with the same webhook-id."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        delivery = get_object_or_404(WebhookDelivery.objects.select_related("endpoint"), pk=object_id)
        if not delivery.endpoint.enabled:
            self.message_user(request, "The endpoint is disabled; enable it before replaying.", messages.ERROR)
        elif delivery.status == WebhookDelivery.Status.SENDING:
            self.message_user(request, "This delivery is being sent right now.", messages.WARNING)
        else:
            services.delivery_replay(delivery=delivery)
            self.message_user(request, "Replaying: the page shows the new attempt in a moment.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:webhooks_webhookdelivery_change", args=[delivery.pk]))

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
