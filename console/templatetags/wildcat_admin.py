"""Template tags for the operator console: the dashboard on the admin's front page."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone

from console.dashboard import CHART_HOURS, dashboard_figures

register = template.Library()

# The message chart's geometry in SVG user units: one slot per hour, two bars per slot.
SLOT_WIDTH = 40
BAR_WIDTH = 15
CHART_TOP = 8
CHART_HEIGHT = 100


@register.inclusion_tag("admin/wildcat/dashboard.html")
def wildcat_dashboard() -> dict:
    board = dashboard_figures()
    bars = []
    for index, hour in enumerate(board.hours):
        left = index * SLOT_WIDTH + 4
        bars.append(
            {
                "hour": hour,
                "in_x": left,
                "out_x": left + BAR_WIDTH + 1,
                "in_y": CHART_TOP + CHART_HEIGHT - hour.inbound_height,
                "out_y": CHART_TOP + CHART_HEIGHT - hour.outbound_height,
                "label": index % 6 == 0,
            }
        )
    return {
        "board": board,
        "bars": bars,
        "bar_width": BAR_WIDTH,
        "chart_width": SLOT_WIDTH * CHART_HOURS,
        "chart_middle": SLOT_WIDTH * CHART_HOURS // 2,
        "chart_empty_y": CHART_TOP + CHART_HEIGHT // 2,
        "baseline": CHART_TOP + CHART_HEIGHT,
        "label_y": CHART_TOP + CHART_HEIGHT + 14,
        "chart_hours": CHART_HOURS,
    }


@register.filter
def ago(moment: datetime | None) -> str:
    """A short relative time for lists that refresh often: "just now", "42 s ago", "3 min ago"."""
    if moment is None:
        return "never"
    seconds = max(0, int((timezone.now() - moment).total_seconds()))
    if seconds < 5:
        return "just now"
    for size, unit in ((86_400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"
