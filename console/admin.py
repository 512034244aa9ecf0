"""The console's own admin pages: the audit log and the live worker list, both read-only."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest

from apikeys.models import ApiKey
from wildcat.models import AuditEntry, WorkerNode


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "action", "actor", "target_type", "target_id", "ip"]
    list_filter = ["action", "target_type"]
    search_fields = ["target_id", "ip", "action"]
    date_hierarchy = "created_at"
    fields = [
        "created_at",
        "action",
        "actor",
        "actor_key_id",
        "actor_user_id",
        "target_type",
        "target_id",
        "ip",
        "detail",
    ]
    readonly_fields = fields
    show_full_result_count = False
    list_per_page = 100

    def get_queryset(self, request: HttpRequest) -> QuerySet[AuditEntry]:
        # Labels by subquery, not one lookup per row; ids stay visible when the key or user is gone.
        users = get_user_model().objects.filter(pk=OuterRef("actor_user_id"))
        keys = ApiKey.objects.filter(pk=OuterRef("actor_key_id"))
        return (
            super()
            .get_queryset(request)
            .annotate(
                actor_key_label=Subquery(keys.values("label")[:1]),
                actor_username=Subquery(users.values(get_user_model().USERNAME_FIELD)[:1]),
            )
        )

    @admin.display(description="Actor")
    def actor(self, entry: AuditEntry) -> str:
        parts = []
        if entry.actor_user_id is not None:
            parts.append(f"admin {getattr(entry, 'actor_username', None) or f'#{entry.actor_user_id}'}")
        if entry.actor_key_id is not None:
            parts.append(f"key {getattr(entry, 'actor_key_label', None) or f'#{entry.actor_key_id}'}")
        return ", ".join(parts) or "-"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return False


@admin.register(WorkerNode)
class WorkerNodeAdmin(admin.ModelAdmin):
    list_display = ["name", "hostname", "pid", "queues", "session_count", "last_heartbeat"]
    readonly_fields = ["name", "hostname", "pid", "queues", "session_count", "started_at", "last_heartbeat"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
