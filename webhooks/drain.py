"""The one webhook delivery engine: claim due deliveries in batches, post them in parallel, record in bulk.

A wake-up task runs ``deliveries_drain`` until nothing is due or its time budget is spent. Each
claim is one conditional UPDATE, so two drainers never hold the same delivery; a drainer killed
mid-batch leaves claimed rows whose claim expires (``next_attempt_at`` was pushed past the claim
timeout) and is then counted as a failed attempt. Sender threads are shared fairly: an endpoint
gets at most an equal share of them among the endpoints with work, so a slow receiver cannot hold
them all while others wait. The sweeper here is the safety net that wakes a drainer.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import secrets
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from webhooks.attempts import (
    SUCCESS_STAMP_SECONDS,
    ClaimedDelivery,
    Outcome,
    attempt_send,
    claims_expire,
    claims_release,
    delivery_finish,
    failure_record,
    success_stamp,
)
from webhooks.endpoint_cache import EndpointCache
from webhooks.models import DeliveryAttempt, WebhookDelivery, WebhookEvent
from webhooks.senders import Claimed, senders_get
from webhooks.services import drain_wake
from wildcat.db import atomic_without_flush_wait

logger = logging.getLogger(__name__)

# Results are written once this many have completed, or when the in-flight set runs low.
RECORD_EVERY = 32
WAITING_POLL_SECONDS = 0.02
# How often a drain looks for due deliveries of endpoints it has no work for yet.
NEWCOMER_CHECK_SECONDS = 1.0
MAX_SKIPPED_ENDPOINTS = 500  # statement parameters stay well under every database's limit
# A claim still held (``sending``) is not claimable, even once expired: ``claims_expire`` first
# records it as a failed attempt.
_CLAIMABLE = [WebhookDelivery.Status.PENDING.value, WebhookDelivery.Status.FAILED.value]
# Raw SQL on the hot path (the ORM's per-statement cost was a large share of a delivery's CPU).
# Only quoted table names and placeholder lists are formatted in; every value is a parameter.
# The candidates are a materialized CTE: as a plain subquery, PostgreSQL may evaluate it again per
# row, and with SKIP LOCKED each evaluation can return other rows, overrunning the LIMIT. On
# PostgreSQL the picked ids are one array, so the UPDATE finds its rows by primary key whatever the
# planner guesses about the due rows (a semi-join could scan every due row once per picked one).
_CLAIM_SQL = (
    "WITH picked AS MATERIALIZED"
    " (SELECT id FROM {deliveries} WHERE {due}{among}{skip} ORDER BY next_attempt_at LIMIT %s{lock})"
    " UPDATE {deliveries} SET status = %s, claim_token = %s, next_attempt_at = %s,"
    " attempt_count = attempt_count + 1, updated_at = %s"
    " WHERE id {picked} AND {due}"
    " RETURNING id, endpoint_id, message_id, attempt_count, retry_step,"
    " (SELECT body FROM {events} WHERE {events}.id = {deliveries}.event_id)"
)
_ATTEMPT_FIELDS = (
    "delivery_id", "number", "started_at", "duration_ms", "status_code", "success", "error", "response_excerpt"
)  # fmt: skip
_ATTEMPTS_INSERT_SQL = (
    "INSERT INTO {table} (delivery_id, number, started_at, duration_ms, status_code, success, error,"
    " response_excerpt, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
# PostgreSQL: the whole group as one JSON parameter, so the statement text stays the same (and its
# parsing cached) whatever the group's size.
_ATTEMPTS_INSERT_JSON_SQL = (
    "INSERT INTO {table} (delivery_id, number, started_at, duration_ms, status_code, success, error,"
    " response_excerpt, created_at)"
    " SELECT delivery_id, number, started_at, duration_ms, status_code, success, error, response_excerpt, %s"
    " FROM json_to_recordset(%s::json) AS row(delivery_id bigint, number integer, started_at timestamptz,"
    " duration_ms integer, status_code integer, success boolean, error text, response_excerpt text)"
)
_DELIVERED_SQL = (
    "UPDATE {table} SET status = %s, next_attempt_at = NULL, claim_token = '', last_error = '',"
    " last_status_code = %s, delivered_at = %s, updated_at = %s WHERE claim_token = %s AND id IN ({ids})"
)


@dataclass
class _Sent:
    delivery: ClaimedDelivery
    token: str
    started_at: datetime
    outcome: Outcome | None  # None: not sent, the claim had grown too old while it waited for a thread


def deliveries_claim(
    *,
    limit: int,
    ids: list[int] | None = None,
    endpoints: EndpointCache | None = None,
    skip_endpoints: frozenset[int] = frozenset(),
) -> tuple[str, list[ClaimedDelivery]]:
    """Claim up to ``limit`` due deliveries (or due ones among ``ids``) for this drainer.

    ``skip_endpoints``: endpoints that already have work in this drainer (see ``_claim_newcomers``).

    One statement picks, claims and returns the rows with their bodies. The UPDATE repeats the "due"
    condition, so of two drainers that picked the same candidates only one wins each row; the
    loser's rows are simply not in its batch. PostgreSQL skips rows another drainer is claiming.
    """
    token = secrets.token_hex(8)
    if ids is not None and not ids:
        return token, []
    now = timezone.now()
    claim_until = now + timedelta(seconds=settings.WILDCAT_WEBHOOK_CLAIM_SECONDS)
    adapt = connection.ops.adapt_datetimefield_value
    deliveries = connection.ops.quote_name(WebhookDelivery._meta.db_table)
    events = connection.ops.quote_name(WebhookEvent._meta.db_table)
    due = f"status IN ({', '.join(['%s'] * len(_CLAIMABLE))}) AND next_attempt_at <= %s"
    due_params = [*_CLAIMABLE, adapt(now)]
    among = f" AND id IN ({', '.join(['%s'] * len(ids))})" if ids is not None else ""
    skip = f" AND endpoint_id NOT IN ({', '.join(['%s'] * len(skip_endpoints))})" if skip_endpoints else ""
    lock = " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    picked = (
        "= ANY(ARRAY(SELECT id FROM picked))" if connection.vendor == "postgresql" else "IN (SELECT id FROM picked)"
    )
    sql = _CLAIM_SQL.format(
        deliveries=deliveries, events=events, due=due, among=among, skip=skip, lock=lock, picked=picked
    )
    params = [
        *due_params, *(ids or []), *sorted(skip_endpoints), limit,
        WebhookDelivery.Status.SENDING.value, token, adapt(claim_until), adapt(now),
        *due_params,
    ]  # fmt: skip
    with atomic_without_flush_wait(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    won = [
        ClaimedDelivery(pk, endpoint_id, message_id, attempts, step, body.encode())
        for pk, endpoint_id, message_id, attempts, step, body in sorted(rows)
    ]
    loaded = (endpoints or EndpointCache()).load({delivery.endpoint_id for delivery in won})
    won = [delivery for delivery in won if delivery.endpoint_id in loaded]  # deleted meanwhile
    for delivery in won:
        delivery.endpoint = loaded[delivery.endpoint_id]
    return token, won


def _attempt(delivery: ClaimedDelivery, token: str, claimed_at: float) -> _Sent:
    started_at = timezone.now()
    if time.monotonic() - claimed_at > settings.WILDCAT_WEBHOOK_CLAIM_SECONDS / 2:
        # It waited long for a thread (slow receivers ahead of it): sending now could outlive the
        # claim and race a drainer that re-claimed it, so it is given back unsent instead.
        return _Sent(delivery, token, started_at, None)
    try:
        if getattr(delivery.endpoint, "unreadable", False):
            raise RuntimeError("the endpoint's secret cannot be decrypted with WILDCAT_ENCRYPTION_KEY")
        outcome = attempt_send(delivery.body, delivery.message_id, delivery.endpoint)
    except Exception as exc:  # a bug in one send must not lose the batch's results
        logger.exception("webhook send failed unexpectedly", extra={"delivery_id": delivery.pk})
        outcome = Outcome(None, f"internal_error: {exc}", "", 0)
    return _Sent(delivery, token, started_at, outcome)


def deliveries_record(sent: list[_Sent], stamped: dict[int, datetime | None]) -> None:
    """Write a group of results: one batch INSERT of attempts, one UPDATE per status code of successes.

    Deliveries that were never sent are given back, due again, with no attempt counted.
    """
    unsent = [(item.delivery.pk, item.token) for item in sent if item.outcome is None]
    if unsent:
        claims_release(unsent)
    # Endpoint rows are stamped in id order: two drains recording at once then lock them in the same
    # order and wait for each other instead of deadlocking.
    sent = sorted((item for item in sent if item.outcome is not None), key=lambda item: item.delivery.endpoint_id)
    if not sent:
        return
    now = timezone.now()
    with atomic_without_flush_wait():
        _attempts_insert(sent, now)
        successes: dict[tuple[str, int | None], list[int]] = defaultdict(list)
        for item in sent:
            assert item.outcome is not None
            if item.outcome.success:
                successes[(item.token, item.outcome.status_code)].append(item.delivery.pk)
                _stamp_once(item, now, stamped)
            else:
                # Failures are rare and each decides its own retry, disabling and exhaustion.
                stamped[item.delivery.endpoint_id] = None  # the next success must clear failing_since
                failure_record(item.delivery, item.token, item.outcome, now)
        for (token, status_code), ids in successes.items():
            _delivered_mark(ids, token, status_code, now)


def _attempts_insert(sent: list[_Sent], now: datetime) -> None:
    table = connection.ops.quote_name(DeliveryAttempt._meta.db_table)
    rows = []
    for item in sent:
        outcome = item.outcome
        assert outcome is not None
        rows.append((
            item.delivery.pk, item.delivery.attempt_count, item.started_at, outcome.duration_ms,
            outcome.status_code, outcome.success, outcome.error[:500], outcome.excerpt,
        ))  # fmt: skip
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            payload = json.dumps(
                [dict(zip(_ATTEMPT_FIELDS, (*row[:2], row[2].isoformat(), *row[3:]), strict=True)) for row in rows],
                ensure_ascii=False,
            )
            cursor.execute(_ATTEMPTS_INSERT_JSON_SQL.format(table=table), [now, payload])
        else:
            adapt = connection.ops.adapt_datetimefield_value
            created_at = adapt(now)
            cursor.executemany(
                _ATTEMPTS_INSERT_SQL.format(table=table),
                [(*row[:2], adapt(row[2]), *row[3:], created_at) for row in rows],
            )


def _delivered_mark(ids: list[int], token: str, status_code: int | None, now: datetime) -> None:
    """Successes of one claim, in one statement; a row whose claim was taken over is left alone."""
    at = connection.ops.adapt_datetimefield_value(now)
    table = connection.ops.quote_name(WebhookDelivery._meta.db_table)
    sql = _DELIVERED_SQL.format(table=table, ids=", ".join(["%s"] * len(ids)))
    with connection.cursor() as cursor:
        cursor.execute(sql, [WebhookDelivery.Status.DELIVERED.value, status_code, at, at, token, *ids])


def _stamp_once(item: _Sent, now: datetime, stamped: dict[int, datetime | None]) -> None:
    """The endpoint's last-success stamp, written at most every few seconds per endpoint."""
    endpoint = item.delivery.endpoint
    recent = now - timedelta(seconds=SUCCESS_STAMP_SECONDS)
    last = stamped.get(endpoint.pk, endpoint.last_success_at if endpoint.failing_since is None else None)
    if last is None or last < recent:
        success_stamp(endpoint, now, recent)
        stamped[endpoint.pk] = now


def _close_disabled(batch: list[ClaimedDelivery], token: str) -> list[ClaimedDelivery]:
    """Deliveries of an endpoint disabled since they were queued end exhausted, unsent."""
    live = []
    for delivery in batch:
        if delivery.endpoint.enabled:
            live.append(delivery)
        else:
            with atomic_without_flush_wait():
                delivery_finish(delivery, token, status=WebhookDelivery.Status.EXHAUSTED, error="endpoint disabled")
    return live


def deliveries_drain(*, ids: list[int] | None = None, budget: float | None = None) -> tuple[int, bool]:
    """Deliver due deliveries (only due ones among ``ids`` if given) until none is due or time is up.

    Returns how many were attempted and whether work may remain (the budget ran out first). It
    returns within its budget (or one send timeout, if that is longer) plus a second, whatever the
    receivers do: every send ends by its deadline, and no wait here is without a bound.
    """
    return _DrainRun(ids, settings.WILDCAT_WEBHOOK_DRAIN_SECONDS if budget is None else budget).run()


class _DrainRun:
    """One drain: deliveries claimed, waiting here for a fair turn at a sender thread, or in flight."""

    def __init__(self, ids: list[int] | None, budget: float) -> None:
        started, timeout = time.monotonic(), settings.WILDCAT_WEBHOOK_TIMEOUT
        # New sends start only while they can end within the budget; nothing is awaited past the end.
        self.send_until = started + max(budget - timeout, 0.0)
        self.end = started + max(budget, timeout) + 1.0
        self.ids, self.batch = ids, settings.WILDCAT_WEBHOOK_DRAIN_BATCH
        self.senders = senders_get()
        # Senders hand results back through a queue: cheaper than waiting on every pending future.
        self.results: queue.SimpleQueue[_Sent] = queue.SimpleQueue()
        self.waiting: dict[int, deque[Claimed]] = {}
        self.done: list[_Sent] = []
        self.stamped: dict[int, datetime | None] = {}
        self.endpoints = EndpointCache()
        self.attempted, self.in_flight, self.claims, self.source_empty = 0, 0, 0, False
        self.newcomers_at = started
        self.stopped = False  # set when the drain returns: its sender threads take nothing more

    def run(self) -> tuple[int, bool]:
        while True:
            now = time.monotonic()
            if self._may_claim(now):
                self._claim()
            self._claim_newcomers(now)
            self._submit()
            self._release_waiting(now)
            if self._stop(idle_only=True) or now >= self.end:
                # Past the end, sends still out are abandoned to their own deadline; if one never
                # reports, its claim expires and counts as a failed attempt.
                self._stop(idle_only=False)
                deliveries_record(self.done, self.stamped)
                return self.attempted, now >= self.end or not self.source_empty
            arrived = _collect(self.results, timeout=min(self.end - now, self._wait_seconds()))
            self.done += arrived
            with self.senders.lock:
                self.in_flight -= len(arrived)
            if len(self.done) >= RECORD_EVERY or self._pending() <= self.batch // 2:
                deliveries_record(self.done, self.stamped)
                self.done = []

    def _stop(self, *, idle_only: bool) -> bool:
        """Stop (if ``idle_only``, only when nothing is waiting or in flight): its senders take no more."""
        with self.senders.lock:
            self.stopped = self.stopped or not idle_only or not (self.in_flight or self.waiting)
            return self.stopped

    def _wait_seconds(self) -> float:
        """How long to wait for a result. Deliveries waiting while none of this drain's are in flight
        wait for threads another drain in this process holds: look again soon, not in a second."""
        with self.senders.lock:
            starved = bool(self.waiting) and not self.in_flight
        return WAITING_POLL_SECONDS if starved else 1.0

    def _pending(self) -> int:
        with self.senders.lock:
            return self.in_flight + sum(len(line) for line in self.waiting.values())

    def _may_claim(self, now: float) -> bool:
        in_time = now < self.send_until or self.claims == 0
        return not self.source_empty and in_time and self._pending() <= self.batch // 2

    def _claim(self) -> None:
        token, batch = _claim_batch(self.batch - self._pending(), self.ids, self.endpoints)
        self.claims += 1
        self.source_empty = self.ids is not None or not batch
        self._queue(batch, token)

    def _claim_newcomers(self, now: float) -> None:
        """Every second, the oldest due deliveries of endpoints with nothing here yet.

        Claims are taken oldest first, so a backlog of slow endpoints would otherwise keep every
        other endpoint's deliveries out of the batches until it is worked off.
        """
        if self.ids is not None or now < self.newcomers_at or now >= self.send_until:
            return
        self.newcomers_at = now + NEWCOMER_CHECK_SECONDS
        with self.senders.lock:
            present = frozenset(self.waiting)
        present |= self.senders.holding()
        if not present or len(present) > MAX_SKIPPED_ENDPOINTS:
            return
        token, batch = deliveries_claim(limit=self.senders.threads, endpoints=self.endpoints, skip_endpoints=present)
        self._queue(batch, token)

    def _queue(self, batch: list[ClaimedDelivery], token: str) -> None:
        self.attempted += len(batch)
        claimed_at = time.monotonic()
        live = _close_disabled(batch, token)
        with self.senders.lock:
            for delivery in live:
                self.waiting.setdefault(delivery.endpoint_id, deque()).append(Claimed(delivery, token, claimed_at))

    def take_locked(self) -> Claimed | None:
        """A sender thread's next delivery from this drain (``senders.lock`` held), or None."""
        claimed = None if self.stopped else self.senders.take_locked(self.waiting)
        if claimed is not None:
            self.in_flight += 1
        return claimed

    def _submit(self) -> None:
        """Start senders on free threads; each keeps taking deliveries, every endpoint up to its fair share."""
        with self.senders.lock:
            while (claimed := self.take_locked()) is not None:
                self.senders.executor.submit(_send_while_work, self, claimed)

    def _release_waiting(self, now: float) -> None:
        """Give back claims that can no longer be sent in time: past the budget, or waiting too long."""
        oldest = now - settings.WILDCAT_WEBHOOK_CLAIM_SECONDS / 2
        given_back = []
        with self.senders.lock:
            for endpoint_id in list(self.waiting):
                line = self.waiting[endpoint_id]
                while line and (now >= self.send_until or line[0].claimed_at < oldest):
                    claimed = line.popleft()
                    given_back.append((claimed.delivery.pk, claimed.token))
                if not line:
                    del self.waiting[endpoint_id]
        if given_back:
            claims_release(given_back)
            self.source_empty = False  # they are due again


def _collect(results: queue.SimpleQueue[_Sent], *, timeout: float) -> list[_Sent]:
    """Wait at most ``timeout`` for one result, then take whatever else is ready."""
    try:
        arrived = [results.get(timeout=max(timeout, 0.0))]
    except queue.Empty:
        return []
    with contextlib.suppress(queue.Empty):
        while True:
            arrived.append(results.get_nowait())
    return arrived


def _claim_batch(limit: int, ids: list[int] | None, endpoints: EndpointCache) -> tuple[str, list[ClaimedDelivery]]:
    """Claim a batch; an empty claim is retried while due rows remain that other drainers won first."""
    for _round in range(3):
        token, batch = deliveries_claim(limit=limit, ids=ids, endpoints=endpoints)
        if batch or ids is not None:
            break
        # Empty: either nothing is due, or another drainer won every candidate; look once more.
        if not WebhookDelivery.objects.filter(status__in=_CLAIMABLE, next_attempt_at__lte=timezone.now()).exists():
            break
    return token, batch


def _send_while_work(run: _DrainRun, claimed: Claimed | None) -> None:
    """A sender thread: send, hand the result back, take the next fair delivery of the drain, until none."""
    while claimed is not None:
        delivery = claimed.delivery
        sent = _Sent(delivery, claimed.token, timezone.now(), None)  # unsent: given back, due again
        try:
            sent = _attempt(delivery, claimed.token, claimed.claimed_at)
        finally:
            with run.senders.lock:
                run.senders.release_locked(delivery.endpoint_id)
                claimed = run.take_locked()
            run.results.put(sent)  # always: the drainer waits for one result per delivery taken


def deliveries_sweep() -> int:
    """Expire stuck claims, then wake a drainer for what is due and was not dispatched since, or long ago."""
    claims_expire(limit=settings.WILDCAT_WEBHOOK_SWEEP_BATCH)
    now = timezone.now()
    stale = now - timedelta(seconds=settings.WILDCAT_WEBHOOK_REDISPATCH_SECONDS)
    due = (
        WebhookDelivery.objects.filter(status__in=_CLAIMABLE, next_attempt_at__lte=now)
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
    drain_wake(force=True)
    return len(ids)
