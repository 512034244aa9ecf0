"""Admin for API keys: create (secret shown once), see usage, revoke."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from apikeys.models import ApiKey
from apikeys.selectors import apikey_revocation_cut
from apikeys.services import apikey_create, apikey_revoke
from wildcat.errors import AppError
from wildcat.one_time_secrets import one_time_secret_stash, one_time_secret_take

_REVEAL_SESSION_KEY = "apikeys:reveal"


class ApiKeyCreateForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["label"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["label", "token_prefix", "status_badge", "usage_count", "last_used_at", "created_by", "created_at"]
    list_filter = ["status"]
    search_fields = ["label", "token_prefix"]
    readonly_fields = [
        "token_prefix",
        "status",
        "created_by",
        "usage_count",
        "last_used_at",
        "last_used_ip",
        "revoked_at",
        "revocation_cut",
        "created_at",
        "updated_at",
    ]
    actions = ["revoke_selected"]
    show_full_result_count = False
    change_form_template = "admin/apikeys/apikey/change_form.html"

    def get_form(self, request: HttpRequest, obj: ApiKey | None = None, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyCreateForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        return [] if obj is None else ["label", *self.readonly_fields]

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        return ["label"] if obj is None else ["label", *self.readonly_fields]

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: ApiKey) -> str:
        return format_html('<span class="wc-badge wc-badge--{}">{}</span>', obj.status, obj.get_status_display())

    @admin.display(description="Cut when revoked")
    def revocation_cut(self, obj: ApiKey) -> str:
        cut = apikey_revocation_cut(api_key=obj) if obj.status == ApiKey.Status.REVOKED else None
        return _cut_summary(cut) if cut else "—"

    def save_model(self, request: HttpRequest, obj: ApiKey, form: forms.ModelForm, change: bool) -> None:
        if change:
            return
        created, secret = apikey_create(label=form.cleaned_data["label"], created_by=request.user)
        obj.pk = created.pk
        obj.__dict__.update(created.__dict__)
        one_time_secret_stash(request, slot=_REVEAL_SESSION_KEY, object_id=created.pk, secret=secret)

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None) -> HttpResponse:
        try:
            return super().add_view(request, form_url, extra_context)
        except AppError as exc:
            # The form found the label free, then another admin created it first: nothing was
            # saved (the add view's transaction rolled back); say so on a fresh add page.
            self.message_user(request, exc.describe(), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def response_add(self, request: HttpRequest, obj: ApiKey, post_url_continue: str | None = None) -> HttpResponse:
        """Always land on the new key's page: that is where its secret is shown, once."""
        url = reverse("admin:apikeys_apikey_change", args=[obj.pk])
        self.message_user(request, f"API key “{obj.label}” was created.", messages.SUCCESS)
        return HttpResponseRedirect(url)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        extra_context = dict(extra_context or {})
        revealed = one_time_secret_take(request, slot=_REVEAL_SESSION_KEY, object_id=object_id)
        if revealed:
            extra_context["revealed_secret"] = revealed
        # Every field is read-only once created: no Save buttons.
        extra_context.update(show_save=False, show_save_and_continue=False, show_save_and_add_another=False)
        if str(object_id).isdigit():
            extra_context["revoke_url"] = reverse("admin:apikeys_apikey_revoke", args=[object_id])
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        revoke = self.admin_site.admin_view(require_POST(self.revoke_view))
        return [path("<int:object_id>/revoke/", revoke, name="apikeys_apikey_revoke"), *super().get_urls()]

    def revoke_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """The key page's Revoke button: the same service as the list action."""
        api_key = get_object_or_404(ApiKey, pk=object_id)
        if not self.has_change_permission(request, api_key):
            raise PermissionDenied
        if api_key.status == ApiKey.Status.ACTIVE:
            apikey_revoke(api_key=api_key)
            cut = _cut_summary(apikey_revocation_cut(api_key=api_key) or {})
            self.message_user(request, f"API key “{api_key.label}” was revoked: {cut}", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:apikeys_apikey_change", args=[api_key.pk]))

    def has_delete_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False

    @admin.action(description="Revoke selected API keys")
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        revoked = 0
        for api_key in queryset.filter(status=ApiKey.Status.ACTIVE):
            apikey_revoke(api_key=api_key)
            revoked += 1
            cut = _cut_summary(apikey_revocation_cut(api_key=api_key) or {})
            self.message_user(request, f"API key “{api_key.label}” was revoked: {cut}", messages.SUCCESS)
        self.message_user(request, f"Revoked {revoked} API key(s).", messages.SUCCESS)


def _cut_summary(cut: dict) -> str:
    """What a revocation cut, in one sentence the operator can act on."""
    endpoints, connections = cut.get("webhook_endpoints", []), cut.get("connections", [])
    return (
        f"{len(endpoints)} webhook endpoint(s) disabled{_ids(endpoints)}, "
        f"{len(connections)} connection(s) stopped with their credentials kept{_ids(connections)}, "
        f"{cut.get('queued_messages', 0)} queued message(s) failed."
    )


def _ids(ids: list[int]) -> str:
    return f" (#{', #'.join(map(str, ids))})" if ids else ""
