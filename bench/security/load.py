"""Load with faults: a burst past the throttle, then Redis and PostgreSQL taken away mid-load and brought
back, counting every answer and checking that all accepted work (webhook deliveries) still arrives."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlparse


@dataclass
class Tally:
    statuses: Counter = field(default_factory=Counter)
    transport_errors: int = 0
    accepted: dict[int, str] = field(default_factory=dict)  # delivery id -> webhook-id
    successes: list[float] = field(default_factory=list)  # monotonic times of 2xx answers
    unavailable: list[float] = field(default_factory=list)  # monotonic times of 503 answers
    retry_after_missing: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values()) + self.transport_errors

    def unexpected_5xx(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500 and status != 503)


@dataclass
class Target:
    key: str
    endpoint_id: int


def _request(conn: http.client.HTTPConnection, method: str, path: str, key: str) -> tuple[int, dict, str | None]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    conn.request(method, path, body=b"{}" if method == "POST" else None, headers=headers)
    response = conn.getresponse()
    raw = response.read()
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        body = {}
    return response.status, body, response.getheader("Retry-After")


def _worker(base_url: str, target: Target, deadline: float, tally: Tally, only_work: bool) -> None:
    parsed = urlparse(base_url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    paths = [("POST", f"/api/v1/webhooks/{target.endpoint_id}/test")]
    if not only_work:
        paths += [("GET", "/api/v1/me"), ("GET", "/api/v1/connections?page_size=5")]
    n = 0
    while time.monotonic() < deadline:
        method, path = paths[n % len(paths)]
        n += 1
        try:
            status, body, retry_after = _request(conn, method, path, target.key)
        except (OSError, http.client.HTTPException):
            with tally.lock:
                tally.transport_errors += 1
            conn.close()
            conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
            continue
        with tally.lock:
            tally.statuses[status] += 1
            if status < 300:
                tally.successes.append(time.monotonic())
            elif status == 503:
                tally.unavailable.append(time.monotonic())
            if status == 202 and "webhook_id" in body:
                tally.accepted[body["id"]] = body["webhook_id"]
            if status == 429 and not retry_after:
                tally.retry_after_missing += 1
    conn.close()


def run_load(base_url: str, targets: list[Target], seconds: float, *, only_work: bool = False) -> Tally:
    tally = Tally()
    deadline = time.monotonic() + seconds
    threads = [
        threading.Thread(target=_worker, args=(base_url, target, deadline, tally, only_work), daemon=True)
        for target in targets
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 60)
    return tally


def run_with_fault(
    base_url: str,
    targets: list[Target],
    *,
    seconds: float,
    break_at: float,
    outage: float,
    break_it: Callable[[], None],
    restore: Callable[[], None],
) -> tuple[Tally, float, float]:
    """Load for ``seconds``; break a dependency at ``break_at`` and restore it ``outage`` seconds later.

    Returns the tally, the moment (monotonic) the dependency was back, and when it broke.
    """
    result: dict[str, Tally] = {}
    loader = threading.Thread(target=lambda: result.setdefault("t", run_load(base_url, targets, seconds)))
    started = time.monotonic()
    loader.start()
    time.sleep(break_at)
    broke_at = time.monotonic()
    break_it()
    time.sleep(outage)
    restore()
    back_at = time.monotonic()
    loader.join(seconds + 120)
    assert time.monotonic() - started >= seconds
    return result["t"], back_at, broke_at


def recovery_seconds(tally: Tally, back_at: float) -> float | None:
    """From the dependency being back to the first successful answer after it."""
    after = [moment for moment in tally.successes if moment >= back_at]
    return round(min(after) - back_at, 2) if after else None


def last_503_after_back(tally: Tally, back_at: float) -> float:
    """How long after the dependency was back the API still answered 503 (0 when it stopped at once)."""
    return round(max([0.0, *(moment - back_at for moment in tally.unavailable)]), 2)
