"""The outbox: the session owner claims a connection's queued messages in order and sends them.

Called by the session host on its command thread for every ready session, when woken and on every
poll tick. It never sleeps: when the next paced send is not due it returns and is called again.

A message left in ``sending`` by an owner that died mid-send may or may not have reached WhatsApp.
With a driver that sends under the id fixed when the message was queued (``sends_with_our_ids``),
sending it again cannot show the recipient a second message, so it simply goes again. With one whose
network picks the id (neonize), a second send would be a second message: such a driver sends one
message per durable transaction, and a message found interrupted fails as ``send_outcome_unknown``
instead of being sent again. An integrator who wants it resent sends it anew.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from messaging import pacing
from messaging.media import media_read
from messaging.message_events import message_event_emit
from messaging.models import Message
from wildcat.db import commit_without_flush_wait
from wildcat.errors import ErrorCode
from wildcat.event_types import EventType
from wildcat.whatsapp import DriverError, MediaPayload, MessageType, OutboundMessage, SendResult, SessionPort

logger = logging.getLogger(__name__)
UNFINISHED = (Message.Status.QUEUED, Message.Status.SENDING)


@dataclass
class _Outcome:
    sent: list[tuple[Message, SendResult]] = field(default_factory=list)
    retry: list[tuple[Message, DriverError]] = field(default_factory=list)
    failed: list[tuple[Message, DriverError]] = field(default_factory=list)
    skipped: list[Message] = field(default_factory=list)
    # A send went out and got no answer: the session is not answering, so stop for this round.
    stalled: bool = False


def outbox_process(*, connection_id: int, port: SessionPort) -> int:
    """Send what is due for one connection; returns how many messages were sent."""
    deadline = time.monotonic() + settings.WILDCAT_OUTBOX_TIME_BUDGET
    total = 0
    while True:
        paced = pacing.send_rate(connection_id) > 0
        if paced and pacing.seconds_until_due(connection_id) > 0:
            return total
        resendable = port.sends_with_our_ids
        limit = 1 if paced or not resendable else settings.WILDCAT_OUTBOX_BATCH
        claimed = _claim(connection_id, limit, resend_interrupted=resendable)
        if not claimed:
            return total
        # One transaction per batch: a driver that writes (the sandbox records what the recipient
        # saw) commits once with the outcome instead of once per message. If the process dies
        # first, the batch stays ``sending`` (see the module docstring for what happens next).
        with transaction.atomic():
            if resendable:
                # Losing this commit in a crash only resends the batch, with the same ids.
                commit_without_flush_wait()
            outcome = _send_all(connection_id, claimed, port, paced=paced)
            _record(outcome)
        total += len(outcome.sent)
        if paced or len(claimed) < limit or outcome.retry or outcome.stalled or time.monotonic() > deadline:
            return total


def outbox_seconds_until_due(connection_id: int) -> float:
    """How long until pacing lets the next message go (0 = now); hosts may use it to time a wake-up."""
    return pacing.seconds_until_due(connection_id)


def _claim(connection_id: int, limit: int, *, resend_interrupted: bool) -> list[Message]:
    """Mark the next sendable messages ``sending``, keeping per-chat order.

    A chat whose oldest unfinished message waits for a retry blocks the chat's later messages.
    Rows already ``sending`` were left by an owner that died mid-send: with ``resend_interrupted``
    they go again under their id, otherwise they fail as ``send_outcome_unknown``.
    """
    now = timezone.now()
    scan = list(
        Message.objects.filter(connection_id=connection_id, status__in=UNFINISHED)
        .order_by("id")
        .values_list("id", "chat_jid", "next_attempt_at", "status")[: max(limit * 5, 200)]
    )
    if not resend_interrupted:
        interrupted = {pk for pk, _chat, _due, status in scan if status == Message.Status.SENDING}
        if interrupted:
            _fail_interrupted(sorted(interrupted), now)
            scan = [row for row in scan if row[0] not in interrupted]
    blocked: set[str] = set()
    chosen: list[int] = []
    for pk, chat_jid, next_attempt_at, _status in scan:
        if chat_jid in blocked:
            continue
        if next_attempt_at is not None and next_attempt_at > now:
            blocked.add(chat_jid)
            continue
        chosen.append(pk)
        if len(chosen) >= limit:
            break
    if not chosen:
        return []
    with transaction.atomic():
        Message.objects.filter(pk__in=chosen, status__in=UNFINISHED).update(
            status=Message.Status.SENDING, updated_at=now
        )
        rows = list(
            Message.objects.select_related("media").filter(pk__in=chosen, status=Message.Status.SENDING).order_by("id")
        )
    return rows


def _fail_interrupted(ids: list[int], now: datetime) -> None:
    """Fail messages an earlier owner began to send and never recorded: they may have gone out."""
    with transaction.atomic():
        failed = list(Message.objects.select_for_update().filter(pk__in=ids, status=Message.Status.SENDING))
        for message in failed:
            message.attempts += 1
            message.status, message.failed_at, message.next_attempt_at = Message.Status.FAILED, now, None
            message.error_code = ErrorCode.SEND_OUTCOME_UNKNOWN
            message.error = (
                "the session stopped while this message was being sent; it may have reached WhatsApp, "
                "so it is not sent again automatically"
            )
            message.updated_at = now
        fields = ["attempts", "status", "failed_at", "next_attempt_at", "error_code", "error", "updated_at"]
        Message.objects.bulk_update(failed, fields)
        for message in failed:
            message_event_emit(message, EventType.MESSAGE_FAILED)
    if failed:
        logger.warning("failed %d interrupted sends as %s", len(failed), ErrorCode.SEND_OUTCOME_UNKNOWN)


def _outbound(message: Message) -> OutboundMessage:
    media = None
    if message.media_id:
        media = MediaPayload(
            content=media_read(message.media), mimetype=message.media.mimetype, filename=message.media.filename
        )
    quote = (message.raw or {}).get("quote") or {}
    return OutboundMessage(
        wa_message_id=message.wa_message_id,
        chat_jid=message.chat_jid,
        type=MessageType(message.type),
        text=message.text,
        media=media,
        content=dict(message.content or {}),
        reply_to_wa_message_id=message.quoted_wa_message_id,
        reply_to_sender_jid=quote.get("sender_jid", ""),
        reply_to_text=quote.get("text", ""),
    )


def _send_all(connection_id: int, claimed: list[Message], port: SessionPort, *, paced: bool) -> _Outcome:
    outcome = _Outcome()
    stop = False
    for message in claimed:
        if stop:
            # A transient error is usually the session's, not the message's: keep the rest queued.
            outcome.skipped.append(message)
            continue
        try:
            outbound = _outbound(message)
        except OSError as exc:
            outcome.failed.append((message, DriverError("media_missing", str(exc), permanent=True)))
            continue
        try:
            outcome.sent.append((message, port.send_message(outbound)))
        except DriverError as exc:
            if exc.permanent:
                outcome.failed.append((message, exc))
                # No answer for 75 s after the message went out: the session is not answering either.
                stop = outcome.stalled = exc.code == ErrorCode.SEND_OUTCOME_UNKNOWN
            else:
                outcome.retry.append((message, exc))
                stop = True
        except Exception as exc:  # a driver bug must not lose the message: retry it later
            logger.exception("send of message %s failed unexpectedly", message.pk)
            outcome.retry.append((message, DriverError("send_error", str(exc)[:500], permanent=False)))
            stop = True
        if paced:
            pacing.record_send(connection_id)
    return outcome


def _backoff(attempts: int) -> timedelta:
    base = settings.WILDCAT_SEND_RETRY_BASE_SECONDS * (2 ** max(0, attempts - 1))
    seconds = min(base, settings.WILDCAT_SEND_RETRY_MAX_SECONDS) * random.uniform(0.8, 1.2)
    return timedelta(seconds=seconds)


def _record(outcome: _Outcome) -> None:
    """Store every result of a batch in one transaction, with its webhook events."""
    now = timezone.now()
    with transaction.atomic():
        _record_sent(outcome.sent, now)
        failed = _record_retries(outcome.retry, now) + _record_failed(outcome.failed, now)
        if outcome.skipped:
            Message.objects.filter(pk__in=[m.pk for m in outcome.skipped], status=Message.Status.SENDING).update(
                status=Message.Status.QUEUED, updated_at=now
            )
        for message, _result in outcome.sent:
            message_event_emit(message, EventType.MESSAGE_SENT)
        for message in failed:
            message_event_emit(message, EventType.MESSAGE_FAILED)


def _record_sent(sent: list[tuple[Message, SendResult]], now: datetime) -> None:
    """One UPDATE for the whole batch (a per-row CASE bulk update costs milliseconds per message).

    ``sent_at`` is when the batch was recorded, at most one outbox call after the actual send.
    """
    if not sent:
        return
    for message, _result in sent:
        message.sent_at = message.timestamp = message.updated_at = now
        message.attempts += 1
        message.error_code = message.error = ""
        message.next_attempt_at = None
        message.status = Message.Status.SENT
    # Only rows still ``sending`` change status: a receipt may already have moved one on.
    Message.objects.filter(pk__in=[m.pk for m, _ in sent]).update(
        sent_at=now,
        timestamp=now,
        attempts=F("attempts") + 1,
        error_code="",
        error="",
        next_attempt_at=None,
        updated_at=now,
        status=Case(When(status=Message.Status.SENDING, then=Value(Message.Status.SENT)), default=F("status")),
    )
    _adopt_network_ids(sent)


def _adopt_network_ids(sent: list[tuple[Message, SendResult]]) -> None:
    """Store the id WhatsApp actually used when the driver could not send with the pre-generated one.

    Receipts, edits and revokes name the network's id, so the row must carry it. If another row of
    the connection already holds that id (an echo stored first), the message keeps its own id rather
    than breaking the batch on the unique constraint.
    """
    for message, result in sent:
        network_id = result.wa_message_id
        if not network_id or network_id == message.wa_message_id:
            continue
        try:
            with transaction.atomic():
                Message.objects.filter(pk=message.pk).update(wa_message_id=network_id)
        except IntegrityError:
            logger.warning(
                "message %s was sent as %s, which another message of connection %s already has; keeping %s",
                message.pk,
                network_id,
                message.connection_id,
                message.wa_message_id,
            )
            continue
        message.wa_message_id = network_id


def _record_retries(retries: list[tuple[Message, DriverError]], now: datetime) -> list[Message]:
    """Schedule transient failures again; those out of attempts fail. Returns the failed ones."""
    if not retries:
        return []
    gave_up = []
    for message, error in retries:
        message.attempts += 1
        message.error_code, message.error = error.code[:64], error.message
        message.updated_at = now
        if message.attempts >= settings.WILDCAT_SEND_MAX_ATTEMPTS:
            message.status, message.failed_at, message.next_attempt_at = Message.Status.FAILED, now, None
            message.error = f"{error.message} (gave up after {message.attempts} attempts)"
            gave_up.append(message)
        else:
            message.status = Message.Status.QUEUED
            message.next_attempt_at = now + _backoff(message.attempts)
    fields = ["attempts", "error_code", "error", "updated_at", "status", "failed_at", "next_attempt_at"]
    Message.objects.bulk_update([m for m, _ in retries], fields)
    return gave_up


def _record_failed(failures: list[tuple[Message, DriverError]], now: datetime) -> list[Message]:
    if not failures:
        return []
    for message, error in failures:
        message.attempts += 1
        message.status, message.failed_at, message.next_attempt_at = Message.Status.FAILED, now, None
        message.error_code = (error.code or ErrorCode.SESSION_ERROR)[:64]
        message.error = error.message
        message.updated_at = now
    fields = ["attempts", "status", "failed_at", "next_attempt_at", "error_code", "error", "updated_at"]
    Message.objects.bulk_update([m for m, _ in failures], fields)
    return [m for m, _ in failures]
