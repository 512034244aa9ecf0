"""Rate strings such as '1200/min': parsed once, shared by the throttle and the system checks."""

from __future__ import annotations

import functools
import re

_PERIODS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*([a-z]+)\s*$")


@functools.lru_cache(maxsize=16)  # read on every request; the setting rarely changes
def parse_rate(rate: str) -> tuple[int, int]:
    """'1200/min' -> (1200, 60)."""
    match = _RATE.match(rate.lower())
    if not match or match.group(2) not in _PERIODS or int(match.group(1)) < 1:
        raise ValueError(f"expected '<count>/<second|minute|hour|day>', got {rate!r}")
    return int(match.group(1)), _PERIODS[match.group(2)]
