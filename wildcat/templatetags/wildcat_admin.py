"""Template tags for the operator console: the dashboard on the admin's front page."""

from __future__ import annotations

from django import template

from wildcat.dashboard import CHART_HOURS, dashboard_figures

register = template.Library()

# The message chart's geometry in SVG user units: one slot per hour, two bars per slot.
SLOT_WIDTH = 20
BAR_WIDTH = 7
CHART_TOP = 8
CHART_HEIGHT = 100


@register.inclusion_tag("admin/wildcat/dashboard.html")
def wildcat_dashboard() -> dict:
    board = dashboard_figures()
    bars = []
    for index, hour in enumerate(board.hours):
        left = index * SLOT_WIDTH + 2
        bars.append(
            {
                "hour": hour,
                "in_x": left,
                "out_x": left + BAR_WIDTH + 1,
                "in_y": CHART_TOP + CHART_HEIGHT - hour.inbound_height,
                "out_y": CHART_TOP + CHART_HEIGHT - hour.outbound_height,
                "label": index % 6 == 0 or index == CHART_HOURS - 1,
            }
        )
    return {
        "board": board,
        "bars": bars,
        "bar_width": BAR_WIDTH,
        "chart_width": SLOT_WIDTH * CHART_HOURS,
        "baseline": CHART_TOP + CHART_HEIGHT,
        "label_y": CHART_TOP + CHART_HEIGHT + 14,
        "chart_hours": CHART_HOURS,
    }
