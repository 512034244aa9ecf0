"""One webhook attempt and its bookkeeping, shared by every path that delivers.

The signed POST, and what its outcome does to the delivery and its endpoint: the retry schedule,
``Retry-After``, 410, auto-disable after sustained failure; and attempts that never reported back
(a claim that expired) counted as failed. The batch drainer in ``drain.py`` is the one caller.
"""

from __future__ import annotations

import logging
import random
import secrets
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from django.conf import settings
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from webhooks import signing
from webhooks.models import DeliveryAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.services import endpoint_disable
from wildcat import destinations, outbound
from wildcat.db import atomic_without_flush_wait

logger = logging.getLogger(__name__)

# Seconds before each retry: about 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h; then exhausted.
RETRY_SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 36000)
JITTER = 0.2
USER_AGENT = "Wildcat-Webhooks/1.0"
SUCCESS_STAMP_SECONDS = 5
EXPIRED_CLAIM_ERROR = "timeout: the attempt did not report back before its claim expired (worker stopped or stuck)"


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


def _signing_secrets(endpoint: WebhookEndpoint) -> list[str]:
    in_use = [endpoint.secret]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires and expires > timezone.now():
        in_use.append(endpoint.previous_secret)
    return in_use


def attempt_send(body: bytes, message_id: str, endpoint: WebhookEndpoint) -> Outcome:
    """Post the signed body once; every way it can end (answer, timeout, refusal) becomes an Outcome."""
    headers = signing.signed_headers(_signing_secrets(endpoint), message_id, int(time.time()), body)
    headers["User-Agent"] = USER_AGENT
    started = time.monotonic()
    try:
        result = outbound.post(endpoint.url, body=body, headers=headers, timeout=settings.WILDCAT_WEBHOOK_TIMEOUT)
    except destinations.OutboundError as exc:
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


def success_stamp(endpoint: WebhookEndpoint, now: datetime, recent: datetime) -> None:
    """Record a success on the endpoint, unless it is already stamped since ``recent``; clears a failure streak."""
    WebhookEndpoint.objects.filter(
        Q(failing_since__isnull=False) | Q(last_success_at__isnull=True) | Q(last_success_at__lt=recent),
        pk=endpoint.pk,
    ).update(last_success_at=now, failing_since=None)


def failure_record(delivery: ClaimedDelivery, token: str, outcome: Outcome, now: datetime) -> str | None:
    """A failed attempt: mark the endpoint failing (disabling it if that lasted too long, or on 410),
    then schedule the next try or end the delivery exhausted. Returns the status written."""
    disabled = _endpoint_failed(delivery.endpoint_id, outcome, now)
    if outcome.status_code == 410:
        endpoint_disable(endpoint_id=delivery.endpoint_id, reason="The receiver answered 410 Gone.")
        disabled = True
    delay = None if disabled else next_delay(delivery.retry_step)
    if delay is None:
        return delivery_finish(delivery, token, status=WebhookDelivery.Status.EXHAUSTED, outcome=outcome)
    if outcome.retry_after is not None:
        delay = outcome.retry_after
    return delivery_finish(
        delivery,
        token,
        status=WebhookDelivery.Status.FAILED,
        outcome=outcome,
        next_attempt_at=now + timedelta(seconds=delay),
        retry_step=delivery.retry_step + 1,
    )


def _endpoint_failed(endpoint_id: int, outcome: Outcome, now: datetime) -> bool:
    """Record the failure on the endpoint; returns whether it has now failed for too long."""
    reason = outcome.error[:500]
    WebhookEndpoint.objects.filter(pk=endpoint_id, failing_since__isnull=True).update(failing_since=now)
    WebhookEndpoint.objects.filter(pk=endpoint_id).update(last_failure_at=now, last_failure_reason=reason)
    limit = now - timedelta(seconds=settings.WILDCAT_WEBHOOK_DISABLE_AFTER_SECONDS)
    if WebhookEndpoint.objects.filter(pk=endpoint_id, enabled=True, failing_since__lte=limit).exists():
        days = settings.WILDCAT_WEBHOOK_DISABLE_AFTER_SECONDS / 86400
        endpoint_disable(
            endpoint_id=endpoint_id, reason=f"Failing continuously for {days:g} days; last error: {reason}"[:300]
        )
        return True
    return False


def delivery_finish(
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


def claims_expire(*, limit: int) -> int:
    """Count each claim that outlived ``WILDCAT_WEBHOOK_CLAIM_SECONDS`` as a failed attempt.

    Its worker died or got stuck mid-attempt: the delivery gets an attempt row saying so and moves
    along the retry schedule like any failure (or ends exhausted), instead of being retried at once
    forever. Returns how many claims were expired.
    """
    now = timezone.now()
    claim_seconds = settings.WILDCAT_WEBHOOK_CLAIM_SECONDS
    rows = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.SENDING, next_attempt_at__lte=now).values_list(
        "pk", "endpoint_id", "message_id", "attempt_count", "retry_step", "claim_token", "next_attempt_at"
    )[:limit]
    expired = 0
    for pk, endpoint_id, message_id, attempts, step, old_token, claim_end in rows:
        token = secrets.token_hex(8)
        with atomic_without_flush_wait():
            # Take the claim over first: a result arriving now, or another sweeper, loses cleanly.
            if not WebhookDelivery.objects.filter(
                pk=pk, claim_token=old_token, status=WebhookDelivery.Status.SENDING, next_attempt_at__lte=now
            ).update(claim_token=token):
                continue
            DeliveryAttempt.objects.create(
                delivery_id=pk, number=attempts, started_at=claim_end - timedelta(seconds=claim_seconds),
                duration_ms=int(claim_seconds * 1000), status_code=None, success=False,
                error=EXPIRED_CLAIM_ERROR, response_excerpt="",
            )  # fmt: skip
            delivery = ClaimedDelivery(pk, endpoint_id, message_id, attempts, step, b"")
            failure_record(delivery, token, Outcome(None, EXPIRED_CLAIM_ERROR, "", int(claim_seconds * 1000)), now)
        expired += 1
    return expired


def claims_release(claims: list[tuple[int, str]]) -> None:
    """Give back claimed (delivery id, claim token) pairs that were never sent: due again, no attempt counted."""
    by_token: dict[str, list[int]] = defaultdict(list)
    for pk, token in claims:
        by_token[token].append(pk)
    now = timezone.now()
    Status = WebhookDelivery.Status
    with atomic_without_flush_wait():
        for token, ids in by_token.items():
            WebhookDelivery.objects.filter(pk__in=ids, claim_token=token, status=Status.SENDING).update(
                status=Case(When(retry_step=0, then=Value(Status.PENDING)), default=Value(Status.FAILED)),
                claim_token="",
                next_attempt_at=now,
                attempt_count=F("attempt_count") - 1,
                updated_at=now,
            )
