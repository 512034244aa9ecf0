"""Wake-ups through a real Redis: every connection asked for is published, hot-path ones together."""

from __future__ import annotations

import random
import time

import pytest
import redis

from wildcat import wakeup


@pytest.fixture
def subscriber(redis_url):
    pubsub = redis.Redis.from_url(redis_url).pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(wakeup.CONNECTION_CHANNEL)
    yield pubsub
    pubsub.close()


def _received(pubsub, wanted: set[int], timeout: float = 5.0) -> list[list[int]]:
    """The channel messages naming any wanted id (other processes may share the channel), until all came."""
    messages, seen = [], set()
    deadline = time.monotonic() + timeout
    while seen < wanted and time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.2)
        if message is None:
            continue
        ids = [i for i in wakeup.wakeup_connection_ids(message["data"]) if i in wanted]
        if ids:
            messages.append(ids)
            seen.update(ids)
    return messages


def test_wake_connection_publishes_one_id_at_once(subscriber):
    connection_id = random.randrange(10**9, 2 * 10**9)
    wakeup.wake_connection(connection_id)
    assert _received(subscriber, {connection_id}) == [[connection_id]]


def test_hot_path_wake_ups_all_arrive_in_far_fewer_publishes(subscriber):
    first = random.randrange(10**9, 2 * 10**9)
    wanted = set(range(first, first + 200))
    for connection_id in sorted(wanted):
        wakeup.wake_connection_soon(connection_id)
    messages = _received(subscriber, wanted)
    assert {i for ids in messages for i in ids} == wanted
    assert len(messages) < 20  # one publish per window, not one per wake-up


def test_a_wake_up_asked_for_after_a_publish_still_goes_out(subscriber):
    first = random.randrange(10**9, 2 * 10**9)
    wakeup.wake_connection_soon(first)
    assert _received(subscriber, {first}) == [[first]]
    wakeup.wake_connection_soon(first)  # the same connection again, once the first wake-up went out
    assert _received(subscriber, {first}) == [[first]]


@pytest.mark.parametrize(
    ("data", "ids"),
    [(b"7", [7]), (b"7,8,9", [7, 8, 9]), ("12", [12]), (b"7,x,,9", [7, 9]), (b"", []), (b"-3", [])],
)
def test_channel_messages_name_connection_ids(data, ids):
    assert wakeup.wakeup_connection_ids(data) == ids
