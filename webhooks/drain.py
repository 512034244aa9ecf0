"""The batch delivery loop: claim due deliveries in batches, post them in parallel, record in bulk.

A wake-up task runs ``deliveries_drain`` until nothing is due or its time budget is spent. Each
claim is one conditional UPDATE, so two drainers never hold the same delivery; a drainer killed
mid-batch leaves claimed rows whose ``next_attempt_at`` (pushed past the claim timeout) makes them
due again for whoever drains next.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import secrets
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.utils import timezone

from webhooks.delivery import (
    SUCCESS_STAMP_SECONDS,
    ClaimedDelivery,
    Outcome,
    _bookkeeping,
    _finish,
    _record_failure,
    _send,
    _stamp_success,
)
from webhooks.models import DeliveryAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent

logger = logging.getLogger(__name__)

# Results are written once this many have completed, or when the in-flight set runs low.
RECORD_EVERY = 32
_ACTIVE = [status.value for status in WebhookDelivery.ACTIVE]
# Raw SQL on the hot path (the ORM's per-statement cost was a large share of a delivery's CPU).
# Only quoted table names and placeholder lists are formatted in; every value is a parameter.
# The candidates are a materialized CTE: as a plain subquery, PostgreSQL may evaluate it again per
# row, and with SKIP LOCKED each evaluation can return other rows, overrunning the LIMIT.
_CLAIM_SQL = (
    "WITH picked AS MATERIALIZED"
    " (SELECT id FROM {deliveries} WHERE {due}{among} ORDER BY next_attempt_at LIMIT %s{lock})"
    " UPDATE {deliveries} SET status = %s, claim_token = %s, next_attempt_at = %s,"
    " attempt_count = attempt_count + 1, updated_at = %s"
    " WHERE id IN (SELECT id FROM picked) AND {due}"
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
_ENDPOINT_FINGERPRINT_SQL = (
    "SELECT id, enabled, url, secret, previous_secret, previous_secret_expires_at FROM {table} WHERE id IN ({ids})"
)
_DELIVERED_SQL = (
    "UPDATE {table} SET status = %s, next_attempt_at = NULL, claim_token = '', last_error = '',"
    " last_status_code = %s, delivered_at = %s, updated_at = %s WHERE claim_token = %s AND id IN ({ids})"
)
_executor_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None


@dataclass
class _Sent:
    delivery: ClaimedDelivery
    token: str
    started_at: datetime
    outcome: Outcome | None  # None: not sent, the claim had grown too old while it waited for a thread


def _pool() -> ThreadPoolExecutor:
    """One sender pool per process; its threads keep their kept-alive connections between batches."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(
                max_workers=settings.WILDCAT_WEBHOOK_DRAIN_THREADS, thread_name_prefix="webhook-send"
            )
        return _executor


def deliveries_claim(
    *, limit: int, ids: list[int] | None = None, endpoints: EndpointCache | None = None
) -> tuple[str, list[ClaimedDelivery]]:
    """Claim up to ``limit`` due deliveries (or due ones among ``ids``) for this drainer.

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
    due = f"status IN ({', '.join(['%s'] * len(_ACTIVE))}) AND next_attempt_at <= %s"
    due_params = [*_ACTIVE, adapt(now)]
    among = f" AND id IN ({', '.join(['%s'] * len(ids))})" if ids is not None else ""
    lock = " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    sql = _CLAIM_SQL.format(deliveries=deliveries, events=events, due=due, among=among, lock=lock)
    params = [
        *due_params, *(ids or []), limit,
        WebhookDelivery.Status.SENDING.value, token, adapt(claim_until), adapt(now),
        *due_params,
    ]  # fmt: skip
    with _bookkeeping(), connection.cursor() as cursor:
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


class EndpointCache:
    """Endpoints a drainer loaded, reused for later batches while what a send depends on is unchanged.

    Each batch still reads the sending columns (one short query); only a changed or new endpoint
    is loaded again (and its secret decrypted), so a disable, URL change or rotation takes effect
    from the next batch on.
    """

    def __init__(self) -> None:
        self._loaded: dict[int, tuple[tuple[object, ...], WebhookEndpoint]] = {}

    def load(self, ids: set[int]) -> dict[int, WebhookEndpoint]:
        if not ids:
            return {}
        table = connection.ops.quote_name(WebhookEndpoint._meta.db_table)
        sql = _ENDPOINT_FINGERPRINT_SQL.format(table=table, ids=", ".join(["%s"] * len(ids)))
        with connection.cursor() as cursor:
            cursor.execute(sql, list(ids))
            fingerprints = {row[0]: tuple(row[1:]) for row in cursor.fetchall()}
        changed = {pk for pk, fingerprint in fingerprints.items() if self._loaded.get(pk, ((),))[0] != fingerprint}
        if changed:
            for pk, endpoint in _endpoints_load(changed).items():
                if pk in fingerprints:
                    self._loaded[pk] = (fingerprints[pk], endpoint)
        return {pk: self._loaded[pk][1] for pk in fingerprints if pk in self._loaded}


def _endpoints_load(ids: set[int]) -> dict[int, WebhookEndpoint]:
    """One endpoint object (and one secret decryption) per endpoint, not per delivery.

    An endpoint whose secret cannot be read comes back without it, so only its own deliveries
    fail (visibly, on the retry schedule) instead of the whole batch.
    """
    try:
        return WebhookEndpoint.objects.in_bulk(ids)
    except ImproperlyConfigured:  # one unreadable secret must not stall everyone else's deliveries
        logger.exception("webhook endpoints could not be loaded together; loading them one by one")
    endpoints = {}
    for endpoint_id in ids:
        try:
            endpoints[endpoint_id] = WebhookEndpoint.objects.get(pk=endpoint_id)
        except WebhookEndpoint.DoesNotExist:
            continue
        except ImproperlyConfigured:
            endpoints[endpoint_id] = WebhookEndpoint.objects.defer("secret", "previous_secret").get(pk=endpoint_id)
            endpoints[endpoint_id].unreadable = True
    return endpoints


def _attempt(delivery: ClaimedDelivery, token: str, claimed_at: float) -> _Sent:
    started_at = timezone.now()
    if time.monotonic() - claimed_at > settings.WILDCAT_WEBHOOK_CLAIM_SECONDS / 2:
        # It waited long for a thread (slow receivers ahead of it): sending now could outlive the
        # claim and race a drainer that re-claimed it, so let the claim expire instead.
        return _Sent(delivery, token, started_at, None)
    try:
        if getattr(delivery.endpoint, "unreadable", False):
            raise RuntimeError("the endpoint's secret cannot be decrypted with WILDCAT_ENCRYPTION_KEY")
        outcome = _send(delivery.body, delivery.message_id, delivery.endpoint)
    except Exception as exc:  # a bug in one send must not lose the batch's results
        logger.exception("webhook send failed unexpectedly", extra={"delivery_id": delivery.pk})
        outcome = Outcome(None, f"internal_error: {exc}", "", 0)
    return _Sent(delivery, token, started_at, outcome)


def deliveries_record(sent: list[_Sent], stamped: dict[int, datetime | None]) -> None:
    """Write a group of results: one batch INSERT of attempts, one UPDATE per status code of successes."""
    sent = [item for item in sent if item.outcome is not None]
    if not sent:
        return
    now = timezone.now()
    with _bookkeeping():
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
                _record_failure(item.delivery, item.delivery.endpoint, item.token, item.outcome, now)
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
        _stamp_success(endpoint, now, recent)
        stamped[endpoint.pk] = now


def _close_disabled(batch: list[ClaimedDelivery], token: str) -> list[ClaimedDelivery]:
    """Deliveries of an endpoint disabled since they were queued end exhausted, unsent."""
    live = []
    for delivery in batch:
        if delivery.endpoint.enabled:
            live.append(delivery)
        else:
            with _bookkeeping():
                _finish(delivery, token, status=WebhookDelivery.Status.EXHAUSTED, error="endpoint disabled")
    return live


def deliveries_drain(*, ids: list[int] | None = None, budget: float | None = None) -> tuple[int, bool]:
    """Deliver due deliveries (only due ones among ``ids`` if given) until none is due or time is up.

    Returns how many were attempted and whether work may remain (the budget ran out first).
    """
    batch_size = settings.WILDCAT_WEBHOOK_DRAIN_BATCH
    deadline = time.monotonic() + (settings.WILDCAT_WEBHOOK_DRAIN_SECONDS if budget is None else budget)
    # Senders hand results back through a queue: cheaper than waiting on every pending future.
    results: queue.SimpleQueue[_Sent] = queue.SimpleQueue()
    done: list[_Sent] = []
    stamped: dict[int, datetime | None] = {}
    endpoints = EndpointCache()
    attempted, in_flight, source_empty, out_of_time = 0, 0, False, False
    while True:
        out_of_time = time.monotonic() >= deadline
        if not source_empty and not out_of_time and in_flight <= batch_size // 2:
            claimed, submitted = _claim_and_submit(batch_size - in_flight, ids, results, endpoints)
            attempted, in_flight = attempted + claimed, in_flight + submitted
            source_empty = claimed == 0 or ids is not None
        if not in_flight:
            deliveries_record(done, stamped)
            return attempted, out_of_time and not source_empty
        arrived = _collect(results)
        done += arrived
        in_flight -= len(arrived)
        if len(done) >= RECORD_EVERY or in_flight <= batch_size // 2:
            deliveries_record(done, stamped)
            done = []


def _collect(results: queue.SimpleQueue[_Sent]) -> list[_Sent]:
    """Wait for one result (every send ends within its timeout), then take whatever else is ready."""
    arrived = [results.get()]
    with contextlib.suppress(queue.Empty):
        while True:
            arrived.append(results.get_nowait())
    return arrived


def _claim_and_submit(
    limit: int, ids: list[int] | None, results: queue.SimpleQueue[_Sent], endpoints: EndpointCache
) -> tuple[int, int]:
    """Claim a batch and hand it to the sender pool; returns how many rows were claimed and sent off."""
    for _round in range(3):
        token, batch = deliveries_claim(limit=limit, ids=ids, endpoints=endpoints)
        if batch or ids is not None:
            break
        # Empty: either nothing is due, or another drainer won every candidate; look once more.
        if not WebhookDelivery.objects.filter(
            status__in=WebhookDelivery.ACTIVE, next_attempt_at__lte=timezone.now()
        ).exists():
            return 0, 0
    pool, claimed_at = _pool(), time.monotonic()
    live = _close_disabled(batch, token)
    for delivery in live:
        pool.submit(_attempt_into, results, delivery, token, claimed_at)
    return len(batch), len(live)


def _attempt_into(results: queue.SimpleQueue[_Sent], delivery: ClaimedDelivery, token: str, claimed_at: float) -> None:
    sent = _Sent(delivery, token, timezone.now(), None)  # unsent: the claim expires and it is retried
    try:
        sent = _attempt(delivery, token, claimed_at)
    finally:
        results.put(sent)  # always: the drainer waits for one result per delivery sent off
