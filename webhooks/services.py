"""Writes for webhooks. ``event_emit`` is the one door through which every app raises an event."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from apikeys.models import ApiKey
from webhooks import emit_cache, signing
from webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from wildcat import destinations
from wildcat.audit import audit_record
from wildcat.celery import app
from wildcat.errors import AppError, ErrorCode, invalid_request
from wildcat.event_types import ALL_TYPES, EventType
from wildcat.redis_client import get_redis

logger = logging.getLogger(__name__)

DRAIN_TASK = "webhooks.tasks.deliveries_drain_task"
DRAIN_QUEUED_KEY = "wildcat:webhooks:drain-queued"
QUEUE = "webhooks"
BATCH = 500


# --- Events -------------------------------------------------------------------------------


def event_emit(
    *, api_key_id: int, event_type: str, data: dict[str, Any], connection_id: int | None = None
) -> WebhookEvent | None:
    """Record an event and one delivery per subscribed endpoint, inside the caller's transaction.

    Dispatch happens on commit. Callers must call this inside the same transaction as the change
    that causes the event. A key without a matching endpoint stores nothing, and after the first
    such event costs no query for a while (``emit_cache``).
    """
    event_type = str(event_type)
    if event_type not in ALL_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    cached = {"api_key_id": api_key_id, "event_type": event_type, "connection_id": connection_id}
    endpoint_ids, token = emit_cache.endpoints_known(**cached)
    if endpoint_ids is None:
        scope = Q(connection__isnull=True)
        if connection_id:
            scope |= Q(connection_id=connection_id)
        endpoints = WebhookEndpoint.objects.filter(scope, api_key_id=api_key_id, enabled=True).values_list(
            "id", "event_types"
        )
        endpoint_ids = [pk for pk, types in endpoints if not types or event_type in types]
        emit_cache.endpoints_remember(**cached, endpoint_ids=endpoint_ids, token=token)
    if not endpoint_ids:
        return None
    return _event_record(
        api_key_id=api_key_id, event_type=event_type, data=data, connection_id=connection_id, endpoint_ids=endpoint_ids
    )


def _event_record(
    *, api_key_id: int, event_type: str, data: dict[str, Any], connection_id: int | None, endpoint_ids: list[int]
) -> WebhookEvent:
    now = timezone.now()
    body = envelope_encode(event_type=event_type, data=data, connection_id=connection_id, at=now)
    # No savepoint: inside the caller's transaction a failure here fails it anyway.
    with transaction.atomic(savepoint=False):
        event = WebhookEvent.objects.create(
            api_key_id=api_key_id, connection_id=connection_id, type=event_type, body=body, created_at=now
        )
        deliveries = WebhookDelivery.objects.bulk_create(
            [
                WebhookDelivery(
                    event=event,
                    endpoint_id=endpoint_id,
                    message_id=signing.message_id_generate(),
                    next_attempt_at=now,
                    dispatched_at=now,
                )
                for endpoint_id in endpoint_ids
            ]
        )
        dispatch_on_commit([delivery.pk for delivery in deliveries])
    return event


def envelope_encode(*, event_type: str, data: dict[str, Any], connection_id: int | None, at: datetime) -> str:
    """The JSON body sent for an event: ``{"type", "timestamp", "data"}``, media as links only."""
    data = dict(data)
    if connection_id is not None:
        data.setdefault("connection_id", connection_id)
    media = data.get("media")
    if isinstance(media, dict) and media.get("id") is not None and not str(media.get("url") or "").startswith("http"):
        # Receivers live elsewhere: the download link must be absolute.
        data["media"] = {**media, "url": media_url(media["id"])}
    envelope = {"type": event_type, "timestamp": at.isoformat().replace("+00:00", "Z"), "data": data}
    return json.dumps(envelope, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False)


def media_url(media_id: int) -> str:
    return f"{settings.PUBLIC_URL}/api/v1/media/{media_id}"


def dispatch_on_commit(delivery_ids: list[int]) -> None:
    """Wake a drainer once the caller's transaction commits; a lost wake-up only delays: the sweeper re-dispatches."""
    if delivery_ids:
        transaction.on_commit(drain_wake, robust=True)


def drain_wake(*, force: bool = False) -> None:
    """Queue one drain task, unless one is already queued and not yet started (``force`` skips that check).

    The marker keeps a burst of commits from queueing a task each: the queued drainer clears it
    when it starts, before it looks for due work, so nothing committed after that is missed.
    """
    try:
        client = get_redis()
        if not force and client is not None:
            ttl = max(1, int(settings.WILDCAT_WEBHOOK_REDISPATCH_SECONDS))
            if not client.set(DRAIN_QUEUED_KEY, "1", nx=True, ex=ttl):
                return
        app.send_task(DRAIN_TASK, queue=QUEUE, retry=False)
    except Exception:  # the broker being down must not fail the caller
        logger.warning("webhook wake-up failed; the sweeper will retry", exc_info=True)
        drain_woken()  # a marker without its task would hold back the next wake-ups


def drain_woken() -> None:
    """Called by a drain task as it starts: later commits must queue a new one."""
    try:
        client = get_redis()
        if client is not None:
            client.delete(DRAIN_QUEUED_KEY)
    except Exception:  # the marker expires by itself
        logger.warning("could not clear the webhook drain marker", exc_info=True)


# --- Endpoints ----------------------------------------------------------------------------


def _event_types_clean(event_types: list[str]) -> list[str]:
    unknown = sorted(set(event_types) - ALL_TYPES)
    if unknown:
        raise invalid_request({"event_types": [f"Unknown event types: {', '.join(unknown)}."]})
    return sorted(set(event_types))


def endpoint_create(
    *,
    api_key_id: int,
    url: str,
    event_types: list[str] | None = None,
    connection_id: int | None = None,
    description: str = "",
) -> tuple[WebhookEndpoint, str]:
    """Create an endpoint; returns it with its secret, which is shown this once."""
    destinations.validate_url(url)
    secret = signing.secret_generate()
    with transaction.atomic():
        # Counting under a lock on the key keeps two concurrent creates from both passing the limit.
        ApiKey.objects.select_for_update().filter(pk=api_key_id).first()
        if WebhookEndpoint.objects.filter(api_key_id=api_key_id).count() >= settings.WILDCAT_MAX_WEBHOOKS_PER_KEY:
            most = settings.WILDCAT_MAX_WEBHOOKS_PER_KEY
            raise AppError(ErrorCode.LIMIT_EXCEEDED, f"A key may have at most {most} webhook endpoints.")
        endpoint = WebhookEndpoint.objects.create(
            api_key_id=api_key_id,
            url=url,
            event_types=_event_types_clean(event_types or []),
            connection_id=connection_id,
            description=description,
            secret=secret,
        )
        _audit("webhook.created", endpoint, detail={"url": url, "event_types": endpoint.event_types})
    return endpoint, secret


def _audit(action: str, endpoint: WebhookEndpoint, detail: dict[str, Any] | None = None) -> None:
    """An audit entry for a change to an endpoint; never carries the secret."""
    audit_record(
        action=action, actor_key_id=endpoint.api_key_id, target_type="webhook", target_id=endpoint.pk, detail=detail
    )


def endpoint_update(*, endpoint: WebhookEndpoint, **changes: Any) -> WebhookEndpoint:
    """Change url, event types, connection, description or enabled; URLs are re-checked."""
    if "url" in changes:
        destinations.validate_url(changes["url"])
    if "event_types" in changes:
        changes["event_types"] = _event_types_clean(changes["event_types"] or [])
    with transaction.atomic():
        # The row as it is now, locked: a secret rotation or an auto-disable that committed since the
        # caller read it is kept, and only the fields this change names are written.
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        fields = set(changes)
        if changes.get("enabled") is True and not locked.enabled:
            locked.disabled_reason, locked.disabled_at, locked.failing_since = "", None, None
            fields |= {"disabled_reason", "disabled_at", "failing_since"}
        elif changes.get("enabled") is False and locked.enabled:
            locked.disabled_reason, locked.disabled_at = "Disabled through the API.", timezone.now()
            fields |= {"disabled_reason", "disabled_at"}
        for name, value in changes.items():
            setattr(locked, name, value)
        locked.save(update_fields=sorted({*fields, "updated_at"}))
    endpoint.refresh_from_db()
    return endpoint


def endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    with transaction.atomic():
        _audit("webhook.deleted", endpoint, detail={"url": endpoint.url})
        endpoint.delete()


def endpoint_rotate_secret(*, endpoint: WebhookEndpoint) -> str:
    """A new secret; the old one keeps signing for the grace period so receivers can switch over."""
    secret = signing.secret_generate()
    grace = settings.WILDCAT_WEBHOOK_ROTATION_GRACE_SECONDS
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        locked.previous_secret = locked.secret if grace else ""
        locked.previous_secret_expires_at = timezone.now() + timedelta(seconds=grace) if grace else None
        locked.secret = secret
        locked.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"])
        _audit("webhook.secret_rotated", locked, detail={"grace_seconds": grace})
    endpoint.refresh_from_db()
    return secret


def endpoint_enable(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    return endpoint_update(endpoint=endpoint, enabled=True)


def endpoint_disable(*, endpoint_id: int, reason: str) -> None:
    """Disable an endpoint and close its outstanding deliveries as exhausted, visibly."""
    now = timezone.now()
    with transaction.atomic():
        WebhookEndpoint.objects.filter(pk=endpoint_id, enabled=True).update(
            enabled=False, disabled_reason=reason[:300], disabled_at=now, updated_at=now
        )
        for api_key_id in WebhookEndpoint.objects.filter(pk=endpoint_id).values_list("api_key_id", flat=True):
            emit_cache.endpoints_changed(api_key_id=api_key_id)
        WebhookDelivery.objects.filter(endpoint_id=endpoint_id, status__in=WebhookDelivery.ACTIVE).exclude(
            status=WebhookDelivery.Status.SENDING
        ).update(
            status=WebhookDelivery.Status.EXHAUSTED,
            next_attempt_at=None,
            last_error=f"endpoint disabled: {reason}"[:500],
            updated_at=now,
        )


def endpoints_disable_for_key(*, api_key_id: int, reason: str) -> list[int]:
    """Disable every enabled endpoint of a key (as ``endpoint_disable`` does); returns their ids."""
    with transaction.atomic():
        ids = list(
            WebhookEndpoint.objects.select_for_update()
            .filter(api_key_id=api_key_id, enabled=True)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        for endpoint_id in ids:
            endpoint_disable(endpoint_id=endpoint_id, reason=reason)
    return ids


def endpoint_send_test(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Send a ``webhook.test`` event to this endpoint only, whatever its filters."""
    data = {"endpoint_id": endpoint.pk, "message": "This is a test event from Wildcat."}
    event = _event_record(
        api_key_id=endpoint.api_key_id,
        event_type=EventType.WEBHOOK_TEST,
        data=data,
        connection_id=None,
        endpoint_ids=[endpoint.pk],
    )
    return event.deliveries.get()


# --- Replays ------------------------------------------------------------------------------


def delivery_replay(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again now, with the same ``webhook-id``, from the start of the schedule."""
    if delivery.status == WebhookDelivery.Status.SENDING:
        return delivery
    _replay(WebhookDelivery.objects.filter(pk=delivery.pk))
    delivery.refresh_from_db()
    return delivery


def endpoint_replay_since(*, endpoint: WebhookEndpoint, since: datetime) -> int:
    """Replay every failed or exhausted delivery of the endpoint created since ``since``."""
    rows = WebhookDelivery.objects.filter(
        endpoint=endpoint,
        created_at__gte=since,
        status__in=[WebhookDelivery.Status.FAILED, WebhookDelivery.Status.EXHAUSTED],
    )
    return _replay(rows)


def _replay(rows) -> int:
    now = timezone.now()
    with transaction.atomic():
        ids = list(rows.exclude(status=WebhookDelivery.Status.SENDING).values_list("id", flat=True))
        for start in range(0, len(ids), BATCH):
            WebhookDelivery.objects.filter(pk__in=ids[start : start + BATCH]).update(
                status=WebhookDelivery.Status.PENDING,
                retry_step=0,
                next_attempt_at=now,
                dispatched_at=now,
                updated_at=now,
            )
        dispatch_on_commit(ids)
    return len(ids)


# --- Retention ----------------------------------------------------------------------------


def events_prune(*, older_than_days: int) -> int:
    """Delete events (with their deliveries and attempts) older than the retention period.

    Events with a delivery still pending or retrying are kept until it ends. 0 keeps everything.
    """
    if older_than_days <= 0:
        return 0
    cutoff = timezone.now() - timedelta(days=older_than_days)
    active = WebhookDelivery.objects.filter(event=OuterRef("pk"), status__in=WebhookDelivery.ACTIVE)
    deleted = 0
    while True:
        ids = list(
            WebhookEvent.objects.filter(created_at__lt=cutoff)
            .exclude(Exists(active))
            .values_list("id", flat=True)[:BATCH]
        )
        if not ids:
            return deleted
        WebhookEvent.objects.filter(pk__in=ids).delete()
        deleted += len(ids)
