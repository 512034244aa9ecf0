"""Admin for connections: a list with status badges, and a live detail page (QR, timeline, actions)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from accounts import admin_forms, selectors, services
from accounts.models import SessionCommand, WaConnection
from accounts.qr import qr_data_url
from messaging.recipients import recipient_to_jid
from messaging.services import SendRequest, message_send
from wildcat.errors import AppError

Status = WaConnection.Status

TIMELINE_LIMIT = 50


def status_badge_html(connection: WaConnection):
    return format_html(
        '<span class="wc-badge wc-badge--{}" data-status="{}">{}</span>',
        connection.status,
        connection.status,
        connection.get_status_display(),
    )


class ConnectionCreateForm(forms.ModelForm):
    presence = forms.ChoiceField(
        choices=WaConnection.Presence.choices,
        required=False,
        initial=WaConnection.Presence.UNAVAILABLE,
        help_text=WaConnection._meta.get_field("presence").help_text,
    )
    start = forms.BooleanField(
        required=False, initial=True, label="Start it now", help_text="Start the session so its QR code appears."
    )

    class Meta:
        model = WaConnection
        fields = ["api_key", "name", "driver", "presence"]
        labels = {"api_key": "API key"}

    def clean(self) -> dict:
        data = super().clean()
        api_key = data.get("api_key")
        limit = settings.WILDCAT_MAX_CONNECTIONS_PER_KEY
        if api_key is not None and WaConnection.objects.filter(api_key=api_key).count() >= limit:
            raise ValidationError(f"This API key already has {limit} connections, the maximum.")
        return data


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


DETAIL_FIELDSETS = [
    (
        "Account",
        {
            "fields": [
                "api_key",
                "name",
                "driver",
                "presence",
                "phone_number",
                "whatsapp_id",
                "profile_name",
                "platform",
            ]
        },
    ),
    (
        "Session",
        {
            "fields": [
                "lease_owner",
                "lease_expires_at",
                "last_seen",
                "last_activity_at",
                "disconnect_reason",
                "retry_at",
            ]
        },
    ),
    (
        "Times",
        {
            "classes": ["collapse"],
            "fields": [
                "created_at",
                "authenticated_at",
                "ready_at",
                "auth_failed_at",
                "disconnected_at",
                "logged_out_at",
                "updated_at",
            ],
        },
    ),
]
DETAIL_FIELDS = [name for _, box in DETAIL_FIELDSETS for name in box["fields"]]
# Pages whose fields are all read-only: no Save buttons, only the actions the page offers.
READ_ONLY_PAGE = {"show_save": False, "show_save_and_continue": False, "show_save_and_add_another": False}


@admin.register(WaConnection)
class WaConnectionAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "status_badge",
        "driver",
        "owner_key",
        "phone_number",
        "last_seen",
        "desired_state",
        "presence",
    ]
    list_filter = ["status", "driver", "desired_state", "presence"]
    actions = ["presence_available", "presence_unavailable"]
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
        "presence",
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
        "retry_at",
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
        return ["api_key", "name", "driver", "presence", "start"] if obj is None else self.readonly_fields

    def get_fieldsets(self, request: HttpRequest, obj: WaConnection | None = None):
        if obj is None:
            return super().get_fieldsets(request, obj)
        # Status, step, wanted state, error and pairing code live in the page's header, kept current.
        return DETAIL_FIELDSETS

    def save_model(self, request: HttpRequest, obj: WaConnection, form: forms.ModelForm, change: bool) -> None:
        if change:
            return
        created = services.connection_create(
            api_key_id=form.cleaned_data["api_key"].pk,
            name=form.cleaned_data["name"],
            driver=form.cleaned_data["driver"],
            presence=form.cleaned_data.get("presence") or WaConnection.Presence.UNAVAILABLE,
        )
        if form.cleaned_data.get("start"):
            created = services.connection_start(connection=created)
        obj.pk = created.pk
        obj.__dict__.update(created.__dict__)

    def response_add(self, request: HttpRequest, obj: WaConnection, post_url_continue: str | None = None):
        """Land on the new connection's page, where its QR code appears."""
        self.message_user(request, f"Connection “{obj.name}” was created.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:accounts_waconnection_change", args=[obj.pk]))

    @admin.action(description="Presence: available (online; the phone gets no notifications)")
    def presence_available(self, request: HttpRequest, queryset: QuerySet[WaConnection]) -> None:
        self._presence_set(request, queryset, WaConnection.Presence.AVAILABLE)

    @admin.action(description="Presence: unavailable (the phone keeps its notifications)")
    def presence_unavailable(self, request: HttpRequest, queryset: QuerySet[WaConnection]) -> None:
        self._presence_set(request, queryset, WaConnection.Presence.UNAVAILABLE)

    def _presence_set(self, request: HttpRequest, queryset: QuerySet[WaConnection], presence: str) -> None:
        for connection in queryset:
            services.connection_update(connection=connection, presence=presence)
        self.message_user(request, f"Presence set to {presence} for {len(queryset)} connection(s).", messages.SUCCESS)

    def delete_model(self, request: HttpRequest, obj: WaConnection) -> None:
        services.connection_delete(connection=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[WaConnection]) -> None:
        # "Delete selected" goes through the service too: logout first, and an audit entry each.
        for connection in queryset:
            services.connection_delete(connection=connection)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:object_id>/live/", wrap(self.live_view), name="accounts_waconnection_live"),
            path(
                "<int:object_id>/act/<str:action_name>/",
                wrap(require_POST(self.action_view)),
                name="accounts_waconnection_act",
            ),
            path(
                "<int:object_id>/pair-code/", wrap(require_POST(self.pair_code_view)), name="accounts_waconnection_pair"
            ),
            path(
                "<int:object_id>/send-test/", wrap(require_POST(self.send_test_view)), name="accounts_waconnection_send"
            ),
            *super().get_urls(),
        ]

    def _live(self, connection: WaConnection) -> dict:
        """The page's changing parts: the first render and every poll of the live view use this."""
        qr = selectors.connection_current_qr(connection)
        now = timezone.now()
        timeline = selectors.connection_timeline(connection=connection, limit=TIMELINE_LIMIT)
        pair_code = connection.pair_code if connection.status in (Status.PENDING, Status.NOT_STARTED) else ""
        return {
            "status": connection.status,
            "status_display": connection.get_status_display(),
            "step": connection.connection_step,
            "desired_state": connection.desired_state,
            "phone_number": connection.phone_number,
            "profile_name": connection.profile_name,
            "error": connection.error,
            "qr_png": qr_data_url(qr) if qr else None,
            "qr_expires_at": connection.qr_expires_at.isoformat() if qr and connection.qr_expires_at else None,
            "pair_code": pair_code,
            "actions": admin_forms.actions_available(connection),
            "now": now.isoformat(),
            "events": [admin_forms.timeline_entry(event, now=now) for event in timeline],
            "fields": admin_forms.detail_values(connection, DETAIL_FIELDS),
        }

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        connection = self.get_object(request, object_id)
        extra_context = dict(extra_context or {})
        if connection is not None:
            actions = [
                (name, label)
                for name, (label, _, sandbox_only) in CONNECTION_ACTIONS.items()
                if not sandbox_only or connection.driver == WaConnection.Driver.SANDBOX
            ]
            live = self._live(connection)
            not_starting = selectors.connection_not_starting_reason(connection)
            if not_starting and request.method == "GET":
                messages.warning(request, not_starting)
            extra_context.setdefault("pair_form", admin_forms.PairCodeForm())
            extra_context.setdefault("send_form", admin_forms.TestMessageForm())
            extra_context.update(
                READ_ONLY_PAGE,
                connection=connection,
                status_badge=status_badge_html(connection),
                connection_actions=[(name, label, live["actions"][name]) for name, label in actions],
                live=live,
                qr_png=live["qr_png"] or "",
                timeline=live["events"],
                live_url=reverse("admin:accounts_waconnection_live", args=[connection.pk]),
                messages_url=reverse("admin:messaging_message_changelist") + f"?connection__id__exact={connection.pk}",
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def live_view(self, request: HttpRequest, object_id: int) -> JsonResponse:
        """What the detail page polls: status, the current QR as a data URL, and the newest timeline rows."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        return JsonResponse(self._live(get_object_or_404(WaConnection, pk=object_id)))

    def _back(self, connection: WaConnection) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:accounts_waconnection_change", args=[connection.pk]))

    def _page_with_errors(self, request: HttpRequest, connection: WaConnection, **forms_with_errors) -> HttpResponse:
        """Show the connection page again with the operator's input and what is wrong with it."""
        request.method = "GET"  # render the page; the POST was for our form, not the change form
        return self.change_view(request, str(connection.pk), extra_context=forms_with_errors)

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
        except AppError as exc:
            self.message_user(request, f"{label}: {_problem(exc)}", messages.ERROR)
        else:
            queued = isinstance(outcome, SessionCommand)
            note = " (sent to the session)" if queued else ""
            self.message_user(request, f"{label}: done{note}.", messages.SUCCESS)
        return self._back(connection)

    def pair_code_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """Ask the running session for a pairing code; the code appears on the page when it arrives."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        connection = get_object_or_404(WaConnection, pk=object_id)
        form = admin_forms.PairCodeForm(request.POST)
        if form.is_valid():
            try:
                services.connection_request_pair_code(connection=connection, phone=form.cleaned_data["phone"])
            except AppError as exc:
                form.add_error(None, _problem(exc))
        if not form.is_valid():
            return self._page_with_errors(request, connection, pair_form=form)
        self.message_user(request, "Pairing code requested: it appears here in a few seconds.", messages.SUCCESS)
        return self._back(connection)

    def send_test_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """Queue a text message through the same service as the API, as the connection's key."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        connection = get_object_or_404(WaConnection, pk=object_id)
        form = admin_forms.TestMessageForm(request.POST)
        body = None
        if form.is_valid():
            outgoing = SendRequest(
                chat_jid=recipient_to_jid(form.cleaned_data["to"]), type="text", text=form.cleaned_data["text"]
            )
            try:
                body, _ = message_send(api_key_id=connection.api_key_id, connection_id=connection.pk, request=outgoing)
            except AppError as exc:
                form.add_error(None, _problem(exc))
        if body is None:
            return self._page_with_errors(request, connection, send_form=form)
        link = reverse("admin:messaging_message_change", args=[body["id"]])
        self.message_user(
            request,
            format_html('Message <a href="{}">#{}</a> to {} queued.', link, body["id"], form.cleaned_data["to"]),
            messages.SUCCESS,
        )
        return self._back(connection)


def _problem(exc: AppError) -> str:
    """A service's refusal as one sentence for the operator."""
    return exc.describe()


@admin.register(SessionCommand)
class SessionCommandAdmin(admin.ModelAdmin):
    list_display = ["id", "connection", "kind", "status", "attempts", "created_at", "updated_at"]
    list_filter = ["status", "kind"]
    list_select_related = ["connection"]
    readonly_fields = ["connection", "kind", "payload", "status", "result", "error", "attempts", "created_at"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
