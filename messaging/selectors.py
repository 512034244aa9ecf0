"""Reads for messaging, always scoped to the calling API key (another key's ids look missing)."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Max, QuerySet

from messaging.models import Media, Message
from wildcat.errors import not_found


def message_get(*, api_key_id: int, message_id: int) -> Message:
    message = Message.objects.select_related("media").filter(pk=message_id, api_key_id=api_key_id).first()
    if message is None:
        raise not_found()
    return message


def media_get(*, api_key_id: int, media_id: int) -> Media:
    # Only media a message of the key still refers to: never what a deleted connection left behind.
    media = Media.objects.filter(pk=media_id, api_key_id=api_key_id, messages__isnull=False).first()
    if media is None:
        raise not_found()
    return media


def message_list(
    *,
    api_key_id: int,
    connection_id: int,
    chat_jid: str = "",
    direction: str = "",
    type: str = "",
    status: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    q: str = "",
) -> QuerySet[Message]:
    queryset = Message.objects.select_related("media").filter(api_key_id=api_key_id, connection_id=connection_id)
    filters = {"chat_jid": chat_jid, "direction": direction, "type": type, "status": status}
    queryset = queryset.filter(**{name: value for name, value in filters.items() if value})
    if since is not None:
        queryset = queryset.filter(created_at__gte=since)
    if until is not None:
        queryset = queryset.filter(created_at__lt=until)
    if q:
        queryset = queryset.filter(text__icontains=q)
    return queryset


def chat_list(*, api_key_id: int, connection_id: int) -> QuerySet[Message]:
    """The newest message of every chat of the connection."""
    latest = (
        Message.objects.filter(api_key_id=api_key_id, connection_id=connection_id)
        .values("chat_jid")
        .annotate(last_id=Max("id"))
        .values("last_id")
    )
    return Message.objects.select_related("media").filter(pk__in=latest)
