"""Reads for webhooks, always scoped to the caller's API key (another key's ids look missing)."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet
from django.shortcuts import get_object_or_404

from webhooks.models import WebhookDelivery, WebhookEndpoint


def endpoints_for_key(*, api_key_id: int) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(api_key_id=api_key_id)


def endpoint_get(*, api_key_id: int, endpoint_id: int) -> WebhookEndpoint:
    return get_object_or_404(WebhookEndpoint, pk=endpoint_id, api_key_id=api_key_id)


def deliveries_for_endpoint(
    *, endpoint: WebhookEndpoint, status: str | None = None, event_type: str | None = None
) -> QuerySet[WebhookDelivery]:
    rows = WebhookDelivery.objects.filter(endpoint=endpoint).select_related("event")
    if status:
        rows = rows.filter(status=status)
    if event_type:
        rows = rows.filter(event__type=event_type)
    return rows


def delivery_get(*, api_key_id: int, delivery_id: int) -> WebhookDelivery:
    rows = WebhookDelivery.objects.select_related("event", "endpoint").prefetch_related("attempts")
    return get_object_or_404(rows, pk=delivery_id, endpoint__api_key_id=api_key_id)


def endpoints_with_health() -> QuerySet[WebhookEndpoint]:
    """Every endpoint with delivered and finished-delivery counts, for the admin's success rate."""
    finished = [WebhookDelivery.Status.DELIVERED, WebhookDelivery.Status.EXHAUSTED, WebhookDelivery.Status.FAILED]
    return WebhookEndpoint.objects.annotate(
        delivered_count=Count("deliveries", filter=Q(deliveries__status=WebhookDelivery.Status.DELIVERED)),
        finished_count=Count("deliveries", filter=Q(deliveries__status__in=finished)),
    )
