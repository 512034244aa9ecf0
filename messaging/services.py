"""Writes for messaging: queueing sends, receiving, receipts, edits and revokes, and retention."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import WaConnection
from accounts.selectors import connection_get
from messaging import session_calls
from messaging.media import (
    MEDIA_TYPES,
    OGG_OPUS,
    media_check,
    media_fetch_url,
    media_files_discarded_on_error,
    media_store,
)
from messaging.message_events import message_event_emit
from messaging.message_insert import message_insert
from messaging.models import Media, Message
from messaging.payloads import message_payload
from wildcat import wakeup
from wildcat.errors import AppError, ErrorCode, invalid_request
from wildcat.event_types import EventType
from wildcat.whatsapp import MessageType, generate_message_id


@dataclass
class SendRequest:
    """A validated send, before media is resolved. ``media_url`` is fetched by Wildcat itself."""

    chat_jid: str
    type: str
    text: str = ""
    content: dict[str, Any] = field(default_factory=dict)
    media_bytes: bytes | None = None
    media_url: str = ""
    media_mimetype: str = ""
    media_filename: str = ""
    reply_to: str = ""
    reaction_target: str = ""


# Where a connection can still become ready (and send what waits), sends are queued; otherwise refused.
_QUEUEABLE = {"ready", "authenticated", "disconnected", "not_started", "pending"}
_REFUSED = {"logged_out", "auth_failed"}


# Sends look the connection up in a short per-process cache: the accept path is hot, and a status
# change (logout) reaching acceptance a second late only queues a message the outbox then holds.
_send_connections: dict[tuple[int, int], tuple[float, WaConnection]] = {}


def send_connection_cache_clear() -> None:
    _send_connections.clear()


def _connection_for_send(*, api_key_id: int, connection_id: int) -> WaConnection:
    ttl = settings.WILDCAT_SEND_CONNECTION_CACHE_SECONDS
    key = (api_key_id, connection_id)
    now = time.monotonic()
    cached = _send_connections.get(key)
    if ttl > 0 and cached is not None and cached[0] > now:
        return cached[1]
    connection = connection_get(api_key_id=api_key_id, connection_id=connection_id)
    if ttl > 0:
        if len(_send_connections) > 10_000:
            _send_connections.clear()
        _send_connections[key] = (now + ttl, connection)
    return connection


def connection_check_sendable(connection) -> None:
    """The documented rule: queue while the connection can still become ready, refuse otherwise.

    Ready, authenticated and disconnected connections queue. A connection that was never linked
    (no ``authenticated_at``) or is logged out / failed authentication answers 409.
    """
    never_linked = connection.status in {"not_started", "pending"} and connection.authenticated_at is None
    if connection.status in _REFUSED or connection.status not in _QUEUEABLE or never_linked:
        raise session_calls.connection_not_ready_error(connection)


def request_hash(parts: dict[str, Any], media_bytes: bytes | None) -> str:
    """A stable digest of a send request (the body, plus the uploaded file's bytes)."""
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode())
    if media_bytes is not None:
        digest.update(hashlib.sha256(media_bytes).digest())
    return digest.hexdigest()


def _replay(connection_id: int, idempotency_key: str, body_hash: str) -> dict[str, Any] | None:
    existing = (
        Message.objects.filter(connection_id=connection_id, idempotency_key=idempotency_key)
        .values_list("request_hash", "first_response")
        .first()
    )
    if existing is None:
        return None
    if existing[0] != body_hash:
        raise AppError(
            ErrorCode.IDEMPOTENCY_CONFLICT, "This Idempotency-Key was already used with a different request."
        )
    return existing[1]


def _resolve_reference(connection_id: int, reference: str, field_name: str) -> Message:
    """A message of this connection by Wildcat id (digits) or WhatsApp id."""
    queryset = Message.objects.filter(connection_id=connection_id)
    found = None
    if reference.isdigit() and len(reference) < 19:
        found = queryset.filter(pk=int(reference)).first()
    found = found or queryset.filter(wa_message_id=reference).first()
    if found is None:
        raise invalid_request({field_name: [f"No message {reference!r} on this connection."]})
    return found


def _media(request: SendRequest, api_key_id: int) -> tuple[bytes, str] | None:
    if request.type not in MEDIA_TYPES:
        return None
    data, declared = request.media_bytes, request.media_mimetype
    if data is None and request.media_url:
        data, fetched_type = media_fetch_url(request.media_url, api_key_id=api_key_id)
        declared = declared or fetched_type
    mimetype = media_check(data=data or b"", declared_mimetype=declared, message_type=request.type)
    if request.type == MessageType.AUDIO and request.content.get("voice_note") and mimetype != OGG_OPUS:
        raise AppError(
            ErrorCode.MEDIA_TYPE_MISMATCH,
            f"A voice note must be Ogg/Opus audio ({OGG_OPUS}), as phones record them; this is {mimetype}. "
            "Send other audio with voice_note false.",
        )
    return data or b"", mimetype


def _build(connection, request: SendRequest, api_key_id: int) -> dict[str, Any]:
    """The new message's field values; only what differs from the model's defaults."""
    values: dict[str, Any] = {
        "api_key_id": api_key_id,
        "connection_id": connection.pk,
        "direction": Message.Direction.OUTBOUND,
        "from_me": True,
        "wa_message_id": generate_message_id(),
        "chat_jid": request.chat_jid,
        "sender_jid": connection.whatsapp_id,
        "type": request.type,
        "text": request.text,
        "status": Message.Status.QUEUED,
    }
    content = dict(request.content)
    if request.reply_to:
        quoted = _resolve_reference(connection.pk, request.reply_to, "reply_to")
        values["quoted_id"] = quoted.pk
        values["quoted_wa_message_id"] = quoted.wa_message_id
        sender = quoted.sender_jid or connection.whatsapp_id
        values["raw"] = {"quote": {"sender_jid": sender, "text": quoted.text[:1000]}}
    if request.reaction_target:
        target = _resolve_reference(connection.pk, request.reaction_target, "reaction")
        content.update(
            target_wa_message_id=target.wa_message_id,
            target_sender_jid=target.sender_jid or connection.whatsapp_id,
            target_from_me=target.from_me,
        )
    if content:
        values["content"] = content
    return values


def message_send(
    *, api_key_id: int, connection_id: int, request: SendRequest, idempotency_key: str = "", body_hash: str = ""
) -> tuple[dict[str, Any], bool]:
    """Queue a message for the connection's owner; returns (response body, replayed)."""
    connection = _connection_for_send(api_key_id=api_key_id, connection_id=connection_id)
    if idempotency_key:
        replayed = _replay(connection.pk, idempotency_key, body_hash)
        if replayed is not None:
            return replayed, True
    connection_check_sendable(connection)
    media = _media(request, api_key_id)  # fetched outside the transaction: a slow URL must not hold locks
    values = _build(connection, request, api_key_id)
    try:
        body = _store(values, media=media, request=request, idempotency_key=idempotency_key, body_hash=body_hash)
    except IntegrityError:
        if idempotency_key:  # a concurrent request with the same key won the race
            replayed = _replay(connection.pk, idempotency_key, body_hash)
            if replayed is not None:
                return replayed, True
        _send_connections.pop((api_key_id, connection_id), None)
        connection_get(api_key_id=api_key_id, connection_id=connection_id)  # deleted meanwhile: 404
        raise
    return body, False


def _store(
    values: dict[str, Any],
    *,
    media: tuple[bytes, str] | None,
    request: SendRequest,
    idempotency_key: str,
    body_hash: str,
) -> dict[str, Any]:
    connection_id = values["connection_id"]
    if media is None and not idempotency_key:
        # A plain send is one INSERT, its own transaction: one database round trip on the hot path.
        message = message_insert(values)
        transaction.on_commit(lambda: wakeup.wake_connection_soon(connection_id))
        return message_payload(message)
    with media_files_discarded_on_error() as written, transaction.atomic():
        stored_media = None
        if media is not None:
            stored_media = media_store(
                api_key_id=values["api_key_id"], data=media[0], mimetype=media[1], filename=request.media_filename
            )
            written.append(stored_media)
            values["media_id"] = stored_media.pk
        if idempotency_key:
            values.update(idempotency_key=idempotency_key, request_hash=body_hash)
        message = message_insert(values)
        message.media = stored_media
        body = message_payload(message)
        if idempotency_key:
            Message.objects.filter(pk=message.pk).update(first_response=body)
        transaction.on_commit(lambda: wakeup.wake_connection_soon(connection_id))
    return body


# How long after sending WhatsApp's phones still apply an edit.
EDIT_WINDOW = timedelta(minutes=15)


def _editable(message: Message, code: str, verb: str) -> None:
    if not message.from_me or message.revoked_at is not None:
        raise AppError(code, f"Only your own messages that are not revoked can be {verb}.")
    if message.status not in {Message.Status.SENT, Message.Status.DELIVERED, Message.Status.READ}:
        raise AppError(code, f"The message is {message.status}; only sent messages can be {verb}.")


def message_edit(*, message: Message, text: str) -> Message:
    """Edit the text of a sent text message, through the session, and record it.

    Only within ``EDIT_WINDOW`` of the send: WhatsApp's phones ignore a later edit (whatsmeow's
    outer bound is 20 minutes, send.go:590-591), so the API refuses it instead of reporting an edit
    nobody sees.
    """
    if message.type != MessageType.TEXT:
        raise AppError(ErrorCode.NOT_EDITABLE, "Only text messages can be edited.")
    _editable(message, ErrorCode.NOT_EDITABLE, "edited")
    sent_at = message.sent_at or message.created_at
    if timezone.now() - sent_at > EDIT_WINDOW:
        minutes = int(EDIT_WINDOW.total_seconds() // 60)
        raise AppError(ErrorCode.NOT_EDITABLE, f"Messages can be edited only within {minutes} minutes of being sent.")
    session_calls.session_call(
        connection_id=message.connection_id,
        op="edit_message",
        args={"chat_jid": message.chat_jid, "wa_message_id": message.wa_message_id, "new_text": text},
    )
    with transaction.atomic():
        message.text, message.edited_at = text, timezone.now()
        message.save(update_fields=["text", "edited_at", "updated_at"])
        message_event_emit(message, EventType.MESSAGE_UPDATED, change="edited", by="api")
    return message


def message_revoke(*, message: Message) -> Message:
    """Revoke for everyone. A message still queued is cancelled instead: it never leaves."""
    with transaction.atomic():
        cancelled = Message.objects.filter(pk=message.pk, status=Message.Status.QUEUED).update(
            status=Message.Status.FAILED,
            error_code=ErrorCode.CANCELLED,
            error="Revoked before it was sent.",
            failed_at=timezone.now(),
            updated_at=timezone.now(),
        )
        if cancelled:
            message.refresh_from_db()
            message_event_emit(message, EventType.MESSAGE_FAILED)
            return message
    message.refresh_from_db()
    _editable(message, ErrorCode.NOT_REVOCABLE, "revoked")
    session_calls.session_call(
        connection_id=message.connection_id,
        op="revoke_message",
        # Only our own messages are revoked here (``_editable``): no sender, so the key says fromMe
        # whichever of our ids (phone number or LID) the message was stored under.
        args={"chat_jid": message.chat_jid, "sender_jid": "", "wa_message_id": message.wa_message_id},
    )
    with transaction.atomic():
        message.revoked_at = timezone.now()
        message.save(update_fields=["revoked_at", "updated_at"])
        message_event_emit(message, EventType.MESSAGE_UPDATED, change="revoked", by="api")
    return message


def messages_fail_queued(*, api_key_id: int, code: str, reason: str) -> int:
    """Fail every message of a key still waiting to be sent; returns how many.

    Messages already being sent are left to finish: WhatsApp may have them, and a send is never
    reported failed when its outcome is unknown.
    """
    now = timezone.now()
    return Message.objects.filter(api_key_id=api_key_id, status=Message.Status.QUEUED).update(
        status=Message.Status.FAILED, error_code=code, error=reason, failed_at=now, updated_at=now
    )


def chat_mark_read(*, connection, chat_jid: str) -> int:
    """Send read receipts for the chat's unread inbound messages; returns how many were marked."""
    unread = list(
        Message.objects.filter(
            connection_id=connection.pk,
            chat_jid=chat_jid,
            direction=Message.Direction.INBOUND,
            status=Message.Status.DELIVERED,
        ).values_list("pk", "sender_jid", "wa_message_id")[:500]
    )
    by_sender: dict[str, list[str]] = {}
    for _pk, sender, wa_id in unread:
        by_sender.setdefault(sender, []).append(wa_id)
    if not unread:
        session_calls.session_check_ready(connection)
    for sender, wa_ids in by_sender.items():
        session_calls.session_call(
            connection_id=connection.pk,
            op="mark_read",
            args={"chat_jid": chat_jid, "sender_jid": sender, "wa_message_ids": wa_ids},
        )
    now = timezone.now()
    Message.objects.filter(pk__in=[pk for pk, _s, _w in unread]).update(
        status=Message.Status.READ, read_at=now, updated_at=now
    )
    return len(unread)


def _unsent_expire(cutoff) -> None:
    """Messages never sent end failed, with their message.failed event, before retention deletes them."""
    unsent = Message.objects.filter(created_at__lt=cutoff, status__in=[Message.Status.QUEUED, Message.Status.SENDING])
    for message in unsent.select_related("media").iterator():
        with transaction.atomic():
            now = timezone.now()
            updated = Message.objects.filter(pk=message.pk, status=message.status).update(
                status=Message.Status.FAILED,
                error_code=ErrorCode.RETENTION_EXPIRED,
                error="Not sent within the retention period; deleted by retention.",
                failed_at=now,
                updated_at=now,
            )
            if updated:
                message.refresh_from_db()
                message_event_emit(message, EventType.MESSAGE_FAILED)


def messages_prune(*, older_than_days: int, batch: int = 1000) -> int:
    """Delete messages older than the retention period, and media nothing refers to any more."""
    if older_than_days <= 0:
        return 0
    cutoff = timezone.now() - timedelta(days=older_than_days)
    _unsent_expire(cutoff)
    deleted = 0
    while True:
        ids = list(Message.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[:batch])
        if not ids:
            break
        deleted += Message.objects.filter(pk__in=ids).delete()[0]
    orphans = Media.objects.filter(created_at__lt=cutoff, messages__isnull=True)
    for media in orphans.iterator():
        media.file.delete(save=False)
        media.delete()
    return deleted
