"""The delivery engine: claim a due delivery, make one signed attempt, record it, schedule the next."""

from __future__ import annotations

import logging
import random
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from webhooks import signing
from webhooks.models import DeliveryAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.services import dispatch, endpoint_disable
from wildcat import outbound

logger = logging.getLogger(__name__)

# Seconds before each retry: about 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h; then exhausted.
RETRY_SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 36000)
JITTER = 0.2
USER_AGENT = "Wildcat-Webhooks/1.0"
SUCCESS_STAMP_SECONDS = 5


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str
    excerpt: str
    duration_ms: int
    retry_after: float | None = None

    @property
    def success(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass
class ClaimedDelivery:
    """A delivery as a drainer holds it: what sending and recording need, without a model instance."""

    pk: int
    endpoint_id: int
    message_id: str
    attempt_count: int
    retry_step: int
    body: bytes
    endpoint: WebhookEndpoint | None = None


def delivery_claim(delivery_id: int) -> str | None:
    """Take a due delivery with one conditional UPDATE; only one worker can win it.

    The claim pushes ``next_attempt_at`` past the longest possible attempt, so a worker that dies
    mid-attempt leaves a row the sweeper finds due again once that time passes.
    """
    now = timezone.now()
    token = secrets.token_hex(8)
    won = WebhookDelivery.objects.filter(
        pk=delivery_id, status__in=WebhookDelivery.ACTIVE, next_attempt_at__lte=now
    ).update(
        status=WebhookDelivery.Status.SENDING,
        claim_token=token,
        next_attempt_at=now + timedelta(seconds=settings.WILDCAT_WEBHOOK_CLAIM_SECONDS),
        attempt_count=F("attempt_count") + 1,
        updated_at=now,
    )
    return token if won else None


@contextmanager
def _bookkeeping() -> Iterator[None]:
    """A transaction for the worker's own state rows, committed without waiting for the disk flush.

    Safe for at-least-once delivery: a crash can only lose the newest claim or outcome, which makes
    the delivery due again (a duplicate the receiver dedupes by ``webhook-id``), never lose it.
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        yield


def delivery_attempt(delivery_id: int) -> str | None:
    """Run one attempt if the delivery is due and ours; returns the resulting status."""
    with _bookkeeping():
        token = delivery_claim(delivery_id)
        if token is None:
            return None
        delivery = WebhookDelivery.objects.select_related("event", "endpoint").filter(pk=delivery_id).first()
    if delivery is None:  # its endpoint was deleted in the meantime
        return None
    endpoint = delivery.endpoint
    if not endpoint.enabled:
        return _finish(delivery, token, status=WebhookDelivery.Status.EXHAUSTED, error="endpoint disabled")
    started_at = timezone.now()
    outcome = _send(delivery.event.body.encode(), delivery.message_id, endpoint)
    with _bookkeeping():
        DeliveryAttempt.objects.create(
            delivery=delivery,
            number=delivery.attempt_count,
            started_at=started_at,
            duration_ms=outcome.duration_ms,
            status_code=outcome.status_code,
            success=outcome.success,
            error=outcome.error[:500],
            response_excerpt=outcome.excerpt,
        )
        return _record_outcome(delivery, endpoint, token, outcome)


def _signing_secrets(endpoint: WebhookEndpoint) -> list[str]:
    in_use = [endpoint.secret]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires and expires > timezone.now():
        in_use.append(endpoint.previous_secret)
    return in_use


def _send(body: bytes, message_id: str, endpoint: WebhookEndpoint) -> Outcome:
    headers = signing.signed_headers(_signing_secrets(endpoint), message_id, int(time.time()), body)
    headers["User-Agent"] = USER_AGENT
    started = time.monotonic()
    try:
        result = outbound.post(endpoint.url, body=body, headers=headers, timeout=settings.WILDCAT_WEBHOOK_TIMEOUT)
    except outbound.OutboundError as exc:
        return Outcome(None, str(exc), "", int((time.monotonic() - started) * 1000))
    error = "" if 200 <= result.status < 300 else _status_error(result.status, result.headers)
    retry_after = _retry_after(result.headers) if result.status in (429, 503) else None
    # PostgreSQL text cannot hold NUL: a receiver answering with one must not make the result unrecordable.
    excerpt = result.body_excerpt.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    return Outcome(result.status, error.replace("\x00", "\ufffd"), excerpt, int(result.elapsed * 1000), retry_after)


def _status_error(status: int, headers: dict[str, str]) -> str:
    if 300 <= status < 400:
        return f"HTTP {status}: redirects are not followed (Location: {headers.get('Location', '')[:200]})"
    return f"HTTP {status}"


def _retry_after(headers: dict[str, str]) -> float | None:
    raw = next((value for name, value in headers.items() if name.lower() == "retry-after"), "").strip()
    if not raw:
        return None
    if raw.isdigit():
        seconds = float(raw)
    else:
        try:
            seconds = (parsedate_to_datetime(raw) - timezone.now()).total_seconds()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), float(settings.WILDCAT_WEBHOOK_RETRY_AFTER_MAX_SECONDS))


def next_delay(retry_step: int) -> float | None:
    """Seconds before the retry after ``retry_step`` earlier failures; None once the schedule is spent."""
    if retry_step >= len(RETRY_SCHEDULE):
        return None
    base = RETRY_SCHEDULE[retry_step] * settings.WILDCAT_WEBHOOK_RETRY_SCALE
    return base * random.uniform(1 - JITTER, 1 + JITTER)


def _record_outcome(delivery: WebhookDelivery, endpoint: WebhookEndpoint, token: str, outcome: Outcome) -> str | None:
    now = timezone.now()
    if outcome.success:
        # Skip the write (and the row lock every worker thread would queue on) when nothing changes
        # beyond a last-success time that is already this recent.
        recent = now - timedelta(seconds=SUCCESS_STAMP_SECONDS)
        stamped = endpoint.failing_since is None and endpoint.last_success_at and endpoint.last_success_at >= recent
        if not stamped:
            _stamp_success(endpoint, now, recent)
        return _finish(delivery, token, status=WebhookDelivery.Status.DELIVERED, outcome=outcome, delivered_at=now)
    return _record_failure(delivery, endpoint, token, outcome, now)


def _stamp_success(endpoint: WebhookEndpoint, now: datetime, recent: datetime) -> None:
    WebhookEndpoint.objects.filter(
        Q(failing_since__isnull=False) | Q(last_success_at__isnull=True) | Q(last_success_at__lt=recent),
        pk=endpoint.pk,
    ).update(last_success_at=now, failing_since=None)


def _record_failure(
    delivery: WebhookDelivery | ClaimedDelivery, endpoint: WebhookEndpoint, token: str, outcome: Outcome, now: datetime
) -> str | None:
    disabled = _endpoint_failed(endpoint, outcome, now)
    if outcome.status_code == 410:
        endpoint_disable(endpoint_id=endpoint.pk, reason="The receiver answered 410 Gone.")
        disabled = True
    delay = None if disabled else next_delay(delivery.retry_step)
    if delay is None:
        return _finish(delivery, token, status=WebhookDelivery.Status.EXHAUSTED, outcome=outcome)
    if outcome.retry_after is not None:
        delay = outcome.retry_after
    return _finish(
        delivery,
        token,
        status=WebhookDelivery.Status.FAILED,
        outcome=outcome,
        next_attempt_at=now + timedelta(seconds=delay),
        retry_step=delivery.retry_step + 1,
    )


def _endpoint_failed(endpoint: WebhookEndpoint, outcome: Outcome, now: datetime) -> bool:
    """Record the failure on the endpoint; returns whether it has now failed for too long."""
    reason = outcome.error[:500]
    WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=True).update(failing_since=now)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(last_failure_at=now, last_failure_reason=reason)
    limit = now - timedelta(seconds=settings.WILDCAT_WEBHOOK_DISABLE_AFTER_SECONDS)
    if WebhookEndpoint.objects.filter(pk=endpoint.pk, enabled=True, failing_since__lte=limit).exists():
        days = settings.WILDCAT_WEBHOOK_DISABLE_AFTER_SECONDS / 86400
        endpoint_disable(
            endpoint_id=endpoint.pk, reason=f"Failing continuously for {days:g} days; last error: {reason}"[:300]
        )
        return True
    return False


def _finish(
    delivery: WebhookDelivery | ClaimedDelivery,
    token: str,
    *,
    status: str,
    outcome: Outcome | None = None,
    error: str = "",
    next_attempt_at: datetime | None = None,
    delivered_at: datetime | None = None,
    retry_step: int | None = None,
) -> str | None:
    """Write the result only if our claim still holds (a replay or a newer claim wins)."""
    fields = {
        "status": status,
        "next_attempt_at": next_attempt_at,
        "claim_token": "",
        "last_error": (outcome.error if outcome else error)[:500],
        "updated_at": timezone.now(),
    }
    if outcome is not None:
        fields["last_status_code"] = outcome.status_code
    if delivered_at is not None:
        fields["delivered_at"] = delivered_at
    if retry_step is not None:
        fields["retry_step"] = retry_step
    updated = WebhookDelivery.objects.filter(pk=delivery.pk, claim_token=token).update(**fields)
    return status if updated else None


def deliveries_sweep() -> int:
    """Wake a drainer for deliveries due and not dispatched since they became due, or dispatched long ago."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.WILDCAT_WEBHOOK_REDISPATCH_SECONDS)
    due = (
        WebhookDelivery.objects.filter(status__in=WebhookDelivery.ACTIVE, next_attempt_at__lte=now)
        .filter(Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=F("next_attempt_at")) | Q(dispatched_at__lt=stale))
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[: settings.WILDCAT_WEBHOOK_SWEEP_BATCH]
    )
    ids = list(due)
    if not ids:
        return 0
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk__in=ids).update(dispatched_at=now)
    # Forced: a wake-up marker left by a lost task must not hold these back.
    dispatch(ids, force=True)
    return len(ids)
