"""The figures on the admin's front page, gathered in four aggregate queries whatever the table sizes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Q
from django.db.models.functions import TruncHour
from django.utils import timezone

from accounts.models import WaConnection
from messaging.models import Message
from webhooks.models import WebhookDelivery
from wildcat.models import WorkerNode

CHART_HOURS = 24


@dataclass
class HourBar:
    """One hour of the message chart: counts and the bar heights in chart units (0-100)."""

    start: datetime
    inbound: int = 0
    outbound: int = 0
    inbound_height: float = 0.0
    outbound_height: float = 0.0


@dataclass
class Dashboard:
    connections_by_status: list[tuple[str, str, int]] = field(default_factory=list)
    connections_total: int = 0
    hours: list[HourBar] = field(default_factory=list)
    messages_in: int = 0
    messages_out: int = 0
    chart_peak: int = 0
    webhook_delivered: int = 0
    webhook_failed: int = 0
    webhook_backlog: int = 0
    webhook_success_rate: float | None = None
    workers: list = field(default_factory=list)
    sessions_hosted: int = 0


def _connections(board: Dashboard) -> None:
    counts = dict(WaConnection.objects.order_by().values_list("status").annotate(n=Count("id")))
    board.connections_by_status = [
        (value, label, counts.get(value, 0)) for value, label in WaConnection.Status.choices if counts.get(value)
    ]
    board.connections_total = sum(counts.values())


def _messages(board: Dashboard, now: datetime) -> None:
    first = (now - timedelta(hours=CHART_HOURS - 1)).replace(minute=0, second=0, microsecond=0)
    rows = (
        Message.objects.filter(created_at__gte=first)
        .order_by()
        .annotate(hour=TruncHour("created_at"))
        .values_list("hour", "direction")
        .annotate(n=Count("id"))
    )
    bars = {first + timedelta(hours=i): HourBar(start=first + timedelta(hours=i)) for i in range(CHART_HOURS)}
    for hour, direction, count in rows:
        bar = bars.get(hour)
        if bar is None:
            continue
        if direction == Message.Direction.INBOUND:
            bar.inbound += count
        else:
            bar.outbound += count
    board.hours = list(bars.values())
    board.messages_in = sum(bar.inbound for bar in board.hours)
    board.messages_out = sum(bar.outbound for bar in board.hours)
    board.chart_peak = max([max(bar.inbound, bar.outbound) for bar in board.hours] + [0])
    for bar in board.hours:
        bar.inbound_height = round(100 * bar.inbound / board.chart_peak, 1) if board.chart_peak else 0
        bar.outbound_height = round(100 * bar.outbound / board.chart_peak, 1) if board.chart_peak else 0


def _webhooks(board: Dashboard, now: datetime) -> None:
    status = WebhookDelivery.Status
    recent = Q(created_at__gte=now - timedelta(hours=CHART_HOURS))
    figures = WebhookDelivery.objects.order_by().aggregate(
        delivered=Count("id", filter=recent & Q(status=status.DELIVERED)),
        failed=Count("id", filter=recent & Q(status__in=[status.FAILED, status.EXHAUSTED])),
        backlog=Count("id", filter=Q(status__in=WebhookDelivery.ACTIVE)),
    )
    board.webhook_delivered, board.webhook_failed = figures["delivered"], figures["failed"]
    board.webhook_backlog = figures["backlog"]
    finished = board.webhook_delivered + board.webhook_failed
    board.webhook_success_rate = round(100 * board.webhook_delivered / finished, 1) if finished else None


def _workers(board: Dashboard, now: datetime) -> None:
    cutoff = now - timedelta(seconds=settings.WILDCAT_WORKER_FRESH_SECONDS)
    board.workers = list(WorkerNode.objects.filter(last_heartbeat__gte=cutoff).order_by("name"))
    board.sessions_hosted = sum(worker.session_count for worker in board.workers)


def dashboard_figures(*, now: datetime | None = None) -> Dashboard:
    """Connections by status, messages per hour over 24 h, webhook health and live workers."""
    now = now or timezone.now()
    board = Dashboard()
    _connections(board)
    _messages(board, now)
    _webhooks(board, now)
    _workers(board, now)
    return board
