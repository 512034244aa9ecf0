"""Storing what a session receives: new messages (once), changes to earlier ones, and receipts."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import WaConnection
from messaging.media import media_files_discarded_on_error, media_store
from messaging.message_events import message_event_emit
from messaging.models import STATUS_RANK, Media, Message
from messaging.polls import poll_vote_apply
from messaging.sanitise import inbound_clean
from wildcat.event_types import EventType
from wildcat.whatsapp import InboundMessage, Receipt, ReceiptType


def connection_owner(connection_id: int) -> int | None:
    """The API key that owns a connection (None when the connection is gone)."""
    return WaConnection.objects.filter(pk=connection_id).values_list("api_key_id", flat=True).first()


def _original(connection_id: int, wa_message_id: str) -> Message | None:
    return (
        Message.objects.select_for_update(of=("self",))
        .filter(connection_id=connection_id, wa_message_id=wa_message_id)
        .select_related("media")
        .first()
    )


def _apply_change(connection_id: int, message: InboundMessage) -> Message | None:
    """An edit, revoke or reaction changes the original message; nothing new is stored."""
    target_id = message.edits_wa_message_id or message.revokes_wa_message_id or message.reacts_to_wa_message_id
    with transaction.atomic():
        original = _original(connection_id, target_id)
        if original is None:
            return None
        if message.edits_wa_message_id:
            if original.text == message.text and original.edited_at is not None:
                return original  # the same edit delivered twice
            original.text, original.edited_at, change = message.text, message.timestamp, "edited"
        elif message.revokes_wa_message_id:
            if original.revoked_at is not None:
                return original
            original.revoked_at, original.text, change = message.timestamp, "", "revoked"
        else:
            emoji = str(message.content.get("emoji", message.text) or "")
            reactions = dict(original.reactions or {})
            if reactions.get(message.sender_jid, "") == emoji:
                return original
            if emoji:
                reactions[message.sender_jid] = emoji
            else:
                reactions.pop(message.sender_jid, None)
            original.reactions, change = reactions, "reaction"
        original.save(update_fields=["text", "edited_at", "revoked_at", "reactions", "updated_at"])
        message_event_emit(original, EventType.MESSAGE_UPDATED, change=change, by=message.sender_jid)
    return original


def _inbound_media(
    api_key_id: int, message: InboundMessage, content: dict[str, Any], written: list[Media]
) -> Media | None:
    if message.media is None:
        return None
    size = len(message.media.content)
    if size > settings.WILDCAT_MAX_MEDIA_BYTES:
        content["media_error"] = {"code": "media_too_large", "size": size}
        return None
    media = media_store(
        api_key_id=api_key_id,
        data=message.media.content,
        mimetype=message.media.mimetype,
        filename=message.media.filename,
    )
    written.append(media)
    return media


def message_receive(*, connection_id: int, message: InboundMessage, api_key_id: int | None = None) -> Message | None:
    """Store an inbound (or own, from the phone) message once; returns None for a duplicate.

    ``api_key_id`` is the connection's owner when the caller already knows it (the event sink learns
    it from the same statement that records the traffic); otherwise it is looked up here. Every field
    the sender controls is cleaned first (``messaging.sanitise``).
    """
    message = inbound_clean(message)
    if api_key_id is None:
        api_key_id = connection_owner(connection_id)
    if api_key_id is None:
        return None
    if message.votes_on_wa_message_id:
        return poll_vote_apply(connection_id=connection_id, vote=message)
    if message.edits_wa_message_id or message.revokes_wa_message_id or message.reacts_to_wa_message_id:
        return _apply_change(connection_id, message)
    if Message.objects.filter(connection_id=connection_id, wa_message_id=message.wa_message_id).exists():
        return None
    try:
        with media_files_discarded_on_error() as written, transaction.atomic():
            row = _store_inbound(api_key_id, connection_id, message, written)
            message_event_emit(row, EventType.MESSAGE_RECEIVED)
    except IntegrityError:
        return None  # a concurrent delivery of the same message won
    return row


def _store_inbound(api_key_id: int, connection_id: int, message: InboundMessage, written: list[Media]) -> Message:
    content = dict(message.content)
    media = _inbound_media(api_key_id, message, content, written)
    quoted = None
    if message.quoted_wa_message_id:
        quoted = Message.objects.filter(connection_id=connection_id, wa_message_id=message.quoted_wa_message_id).first()
    return Message.objects.create(
        api_key_id=api_key_id,
        connection_id=connection_id,
        direction=Message.Direction.OUTBOUND if message.from_me else Message.Direction.INBOUND,
        from_me=message.from_me,
        wa_message_id=message.wa_message_id,
        chat_jid=message.chat_jid,
        sender_jid=message.sender_jid,
        push_name=message.push_name,
        type=message.type,
        text=message.text,
        content=content,
        media=media,
        quoted=quoted,
        quoted_wa_message_id=message.quoted_wa_message_id,
        status=Message.Status.SENT if message.from_me else Message.Status.DELIVERED,
        timestamp=message.timestamp,
        sent_at=message.timestamp if message.from_me else None,
        raw=message.raw,
    )


def message_apply_receipt(*, connection_id: int, receipt: Receipt) -> int:
    """Move our messages' status forward (never back); returns how many changed."""
    target = Message.Status.DELIVERED if receipt.type == ReceiptType.DELIVERED else Message.Status.READ
    lower = [status for status, rank in STATUS_RANK.items() if rank < STATUS_RANK[target]]
    ids = list(receipt.wa_message_ids)
    if not ids:
        return 0
    with transaction.atomic():
        rows = list(
            Message.objects.select_related("media").filter(
                connection_id=connection_id, wa_message_id__in=ids, from_me=True, status__in=lower
            )
        )
        if not rows:
            return 0
        stamp = receipt.timestamp
        changes: dict[str, Any] = {
            "status": target,
            "delivered_at": Coalesce(F("delivered_at"), Value(stamp)),
            "updated_at": timezone.now(),
        }
        if target == Message.Status.READ:
            changes["read_at"] = Coalesce(F("read_at"), Value(stamp))
        Message.objects.filter(pk__in=[r.pk for r in rows], status__in=lower).update(**changes)
        event_type = EventType.MESSAGE_DELIVERED if target == Message.Status.DELIVERED else EventType.MESSAGE_READ
        for row in rows:
            row.status = target
            row.delivered_at = row.delivered_at or stamp
            if target == Message.Status.READ:
                row.read_at = row.read_at or stamp
            message_event_emit(row, event_type)
    return len(rows)
