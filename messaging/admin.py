"""Operators' view of messages, media and inbound dead letters: filters, media inline, retrying dead letters."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import FileResponse, HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from messaging.dead_letters import inbound_dead_letter_retry
from messaging.media import media_file_response
from messaging.models import InboundDeadLetter, Media, Message
from wildcat.errors import MESSAGE_FAILURE_MEANINGS


def _media_preview(media: Media | None) -> str:
    if media is None:
        return "—"
    source = reverse("admin:messaging_media_content", args=[media.pk])
    kind = media.mimetype.split("/", 1)[0]
    if kind == "image":
        return format_html('<img src="{}" alt="{}" style="max-width:480px;max-height:480px">', source, media.filename)
    if kind in {"video", "audio"}:
        return format_html('<{0} src="{1}" controls style="max-width:480px"></{0}>', kind, source)
    return format_html('<a href="{}">{} ({} bytes)</a>', source, media.filename or media.mimetype, media.size)


class ErrorCodeFilter(admin.SimpleListFilter):
    """Failed messages by their published error code (``send_outcome_unknown`` needs a decision)."""

    title = "error code"
    parameter_name = "error_code"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(code.value, code.value) for code in MESSAGE_FAILURE_MEANINGS]

    def queryset(self, request: HttpRequest, queryset):
        return queryset.filter(error_code=self.value()) if self.value() else queryset


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("id", "status_badge", "direction", "type", "chat", "short_text", "connection", "created_at")
    list_filter = ("direction", "status", "type", ErrorCodeFilter, "connection")
    search_fields = ("wa_message_id", "chat_jid", "text")
    list_select_related = ("connection",)
    show_full_result_count = False
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in Message._meta.fields] + [
        "media_inline",
        "content_summary",
        "error_meaning",
    ]
    fieldsets = (
        (None, {"fields": ("connection", "api_key", "direction", "from_me", "type", "status", "wa_message_id")}),
        ("Chat", {"fields": ("chat_jid", "sender_jid", "push_name", "quoted", "quoted_wa_message_id")}),
        ("Content", {"fields": ("text", "media_inline", "content_summary", "content", "reactions")}),
        (
            "Delivery",
            {"fields": ("attempts", "next_attempt_at", "error_code", "error_meaning", "error", "idempotency_key")},
        ),
        (
            "Times",
            {
                "fields": (
                    "timestamp",
                    "sent_at",
                    "delivered_at",
                    "read_at",
                    "failed_at",
                    "edited_at",
                    "revoked_at",
                    "created_at",
                    "updated_at",
                )
            },
        ),
        ("Raw", {"classes": ("collapse",), "fields": ("raw",)}),
    )

    @admin.display(description="status", ordering="status")
    def status_badge(self, message: Message) -> str:
        return format_html(
            '<span class="wc-badge wc-badge--{}" data-status="{}">{}</span>',
            message.status,
            message.status,
            message.get_status_display(),
        )

    @admin.display(description="chat", ordering="chat_jid")
    def chat(self, message: Message) -> str:
        # A one-to-one chat reads as the phone number; groups and other JIDs stay whole.
        user, _, server = message.chat_jid.partition("@")
        return f"+{user}" if server == "s.whatsapp.net" and user.isdigit() else message.chat_jid

    @admin.display(description="text")
    def short_text(self, message: Message) -> str:
        return (message.text or "")[:60]

    @admin.display(description="what the error code means")
    def error_meaning(self, message: Message) -> str:
        return MESSAGE_FAILURE_MEANINGS.get(message.error_code, "—") if message.error_code else "—"

    @admin.display(description="media")
    def media_inline(self, message: Message) -> str:
        return _media_preview(message.media)

    @admin.display(description="summary")
    def content_summary(self, message: Message) -> str:
        """What an operator looks for first: a poll's tally, or which protobuf fields an unknown message had."""
        content = message.content or {}
        if message.type == Message.Type.POLL:
            tally = content.get("tally") or {}
            return ", ".join(f"{option}: {count}" for option, count in tally.items()) or "no votes"
        if message.type == Message.Type.UNKNOWN:
            return "WhatsApp fields: " + (", ".join(content.get("fields", [])) or "—")
        return "—"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Message | None = None) -> bool:
        return False


@admin.register(Media)
class MediaAdmin(admin.ModelAdmin):
    list_display = ("id", "created_at", "filename", "mimetype", "size", "api_key")
    list_filter = ("mimetype",)
    search_fields = ("sha256", "filename")
    show_full_result_count = False
    readonly_fields = ("api_key", "file", "mimetype", "size", "sha256", "filename", "created_at", "preview")

    @admin.display(description="preview")
    def preview(self, media: Media) -> str:
        return _media_preview(media)

    def get_urls(self):
        content = path(
            "<int:media_id>/content/", self.admin_site.admin_view(self.content_view), name="messaging_media_content"
        )
        return [content, *super().get_urls()]

    def content_view(self, request: HttpRequest, media_id: int) -> FileResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        # An attachment: the message page still shows images inline (an <img> ignores the disposition).
        return media_file_response(get_object_or_404(Media, pk=media_id))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Media | None = None) -> bool:
        return False


@admin.register(InboundDeadLetter)
class InboundDeadLetterAdmin(admin.ModelAdmin):
    """Inbound messages that failed to store, with their payload; the action stores them again."""

    list_display = ("id", "created_at", "connection", "wa_message_id", "status", "attempts", "short_error")
    list_filter = ("status",)
    search_fields = ("wa_message_id",)
    list_select_related = ("connection",)
    show_full_result_count = False
    readonly_fields = [field.name for field in InboundDeadLetter._meta.fields]
    actions = ["retry_selected"]

    @admin.display(description="error")
    def short_error(self, letter: InboundDeadLetter) -> str:
        return (letter.error or "")[:60]

    @admin.action(description="Store the selected messages again", permissions=["retry"])
    def retry_selected(self, request: HttpRequest, queryset: QuerySet[InboundDeadLetter]) -> None:
        pending = queryset.filter(status=InboundDeadLetter.Status.PENDING).values_list("pk", flat=True)
        outcomes = [inbound_dead_letter_retry(dead_letter_id=pk).status for pk in pending]
        stored = outcomes.count(InboundDeadLetter.Status.STORED)
        failing = len(outcomes) - stored
        level = messages.WARNING if failing else messages.SUCCESS
        self.message_user(request, f"{stored} stored; {failing} still failing (see their error).", level)

    def has_retry_permission(self, request: HttpRequest) -> bool:
        # Rows are never edited by hand, but storing them again is a change: it needs that permission.
        return request.user.has_perm("messaging.change_inbounddeadletter")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: InboundDeadLetter | None = None) -> bool:
        return False
