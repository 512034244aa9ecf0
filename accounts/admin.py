"""Admin for connections: a list with status badges, and a live detail page (QR, timeline, actions)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST
from rest_framework.exceptions import APIException

from accounts import selectors, services
from accounts.models import ConnectionEvent, SessionCommand, WaConnection, WorkerNode
from accounts.qr import qr_data_url

TIMELINE_LIMIT = 50


def status_badge_html(connection: WaConnection):
    return format_html(
        '<span class="wc-badge wc-badge--{}" data-status="{}">{}</span>',
        connection.status,
        connection.status,
        connection.get_status_display(),
    )


class ConnectionCreateForm(forms.ModelForm):
    class Meta:
        model = WaConnection
        fields = ["api_key", "name", "driver"]

    def clean(self) -> dict:
        data = super().clean()
        api_key = data.get("api_key")
        limit = settings.WILDCAT_MAX_CONNECTIONS_PER_KEY
        if api_key is not None and WaConnection.objects.filter(api_key=api_key).count() >= limit:
            raise ValidationError(f"This API key already has {limit} connections, the maximum.")
        return data


def _event_json(event: ConnectionEvent) -> dict:
    return {
        "id": event.pk,
        "kind": event.get_kind_display(),
        "kind_code": event.kind,
        "from_status": event.from_status,
        "to_status": event.to_status,
        "detail": event.detail,
        "created_at": event.created_at.isoformat(),
    }


# Admin actions on one connection: name -> (label, service call, shown for sandbox only).
def _start(c: WaConnection):
    return services.connection_start(connection=c)


def _stop(c: WaConnection):
    return services.connection_stop(connection=c)


def _restart(c: WaConnection):
    return services.connection_restart(connection=c)


def _logout(c: WaConnection):
    return services.connection_logout(connection=c)


def _scan(c: WaConnection):
    return services.sandbox_call_create(connection=c, op="scan", args={})


CONNECTION_ACTIONS = {
    "start": ("Start", _start, False),
    "stop": ("Stop", _stop, False),
    "restart": ("Restart", _restart, False),
    "logout": ("Log out", _logout, False),
    "scan": ("Simulate scan", _scan, True),
}


@admin.register(WaConnection)
class WaConnectionAdmin(admin.ModelAdmin):
    list_display = ["name", "status_badge", "driver", "owner_key", "phone_number", "last_seen", "desired_state"]
    list_filter = ["status", "driver", "desired_state"]
    search_fields = ["name", "phone_number", "whatsapp_id", "profile_name"]
    list_select_related = ["api_key"]
    show_full_result_count = False
    change_form_template = "admin/accounts/waconnection/change_form.html"

    class Media:
        css = {"all": ["wildcat/connections.css"]}

    readonly_fields = [
        "api_key",
        "name",
        "driver",
        "status",
        "connection_step",
        "desired_state",
        "phone_number",
        "whatsapp_id",
        "profile_name",
        "platform",
        "error",
        "disconnect_reason",
        "pair_code",
        "authenticated_at",
        "ready_at",
        "auth_failed_at",
        "disconnected_at",
        "logged_out_at",
        "last_seen",
        "last_activity_at",
        "lease_owner",
        "lease_expires_at",
        "created_at",
        "updated_at",
    ]

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: WaConnection):
        return status_badge_html(obj)

    @admin.display(description="API key", ordering="api_key__label")
    def owner_key(self, obj: WaConnection) -> str:
        return obj.api_key.label

    def get_form(self, request: HttpRequest, obj: WaConnection | None = None, **kwargs):
        if obj is None:
            kwargs["form"] = ConnectionCreateForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: WaConnection | None = None) -> list[str]:
        return [] if obj is None else self.readonly_fields

    def get_fields(self, request: HttpRequest, obj: WaConnection | None = None) -> list[str]:
        return ["api_key", "name", "driver"] if obj is None else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: WaConnection, form: forms.ModelForm, change: bool) -> None:
        if change:
            return
        created = services.connection_create(
            api_key_id=form.cleaned_data["api_key"].pk,
            name=form.cleaned_data["name"],
            driver=form.cleaned_data["driver"],
        )
        obj.pk = created.pk
        obj.__dict__.update(created.__dict__)

    def delete_model(self, request: HttpRequest, obj: WaConnection) -> None:
        services.connection_delete(connection=obj)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:object_id>/live/", wrap(self.live_view), name="accounts_waconnection_live"),
            path(
                "<int:object_id>/act/<str:action_name>/",
                wrap(require_POST(self.action_view)),
                name="accounts_waconnection_act",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        connection = self.get_object(request, object_id)
        extra_context = dict(extra_context or {})
        if connection is not None:
            actions = [
                (name, label)
                for name, (label, _, sandbox_only) in CONNECTION_ACTIONS.items()
                if not sandbox_only or connection.driver == WaConnection.Driver.SANDBOX
            ]
            qr = selectors.connection_current_qr(connection)
            extra_context.update(
                connection=connection,
                status_badge=status_badge_html(connection),
                connection_actions=actions,
                qr_png=qr_data_url(qr) if qr else "",
                timeline=selectors.connection_timeline(connection=connection, limit=TIMELINE_LIMIT),
                live_url=reverse("admin:accounts_waconnection_live", args=[connection.pk]),
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def live_view(self, request: HttpRequest, object_id: int) -> JsonResponse:
        """What the detail page polls: status, the current QR as a data URL, and the newest timeline rows."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        connection = get_object_or_404(WaConnection, pk=object_id)
        qr = selectors.connection_current_qr(connection)
        timeline = selectors.connection_timeline(connection=connection, limit=TIMELINE_LIMIT)
        return JsonResponse(
            {
                "status": connection.status,
                "status_display": connection.get_status_display(),
                "step": connection.connection_step,
                "desired_state": connection.desired_state,
                "phone_number": connection.phone_number,
                "error": connection.error,
                "qr_png": qr_data_url(qr) if qr else None,
                "qr_expires_at": connection.qr_expires_at.isoformat() if qr and connection.qr_expires_at else None,
                "events": [_event_json(e) for e in timeline],
            }
        )

    def action_view(self, request: HttpRequest, object_id: int, action_name: str) -> HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        connection = get_object_or_404(WaConnection, pk=object_id)
        if action_name not in CONNECTION_ACTIONS:
            raise Http404("No such action.")
        label, run, sandbox_only = CONNECTION_ACTIONS[action_name]
        if sandbox_only and connection.driver != WaConnection.Driver.SANDBOX:
            raise Http404("Only sandbox connections have a sandbox phone.")
        try:
            outcome = run(connection)
        except (APIException, ValidationError) as exc:
            detail = getattr(exc, "detail", None) or "; ".join(getattr(exc, "messages", [str(exc)]))
            self.message_user(request, f"{label}: {detail}", messages.ERROR)
        else:
            queued = isinstance(outcome, SessionCommand)
            note = " (sent to the session)" if queued else ""
            self.message_user(request, f"{label}: done{note}.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:accounts_waconnection_change", args=[connection.pk]))


@admin.register(SessionCommand)
class SessionCommandAdmin(admin.ModelAdmin):
    list_display = ["id", "connection", "kind", "status", "attempts", "created_at", "updated_at"]
    list_filter = ["status", "kind"]
    list_select_related = ["connection"]
    readonly_fields = ["connection", "kind", "payload", "status", "result", "error", "attempts", "created_at"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(WorkerNode)
class WorkerNodeAdmin(admin.ModelAdmin):
    list_display = ["name", "hostname", "pid", "queues", "session_count", "last_heartbeat"]
    readonly_fields = ["name", "hostname", "pid", "queues", "session_count", "started_at", "last_heartbeat"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
