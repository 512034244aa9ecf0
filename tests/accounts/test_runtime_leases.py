"""Session leases: one owner per connection, even when reconcilers race, and expiry hands sessions over."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import close_old_connections
from django.utils import timezone

from accounts.models import ConnectionEvent, WaConnection
from accounts.runtime import leases


def _connection(api_key, name: str, *, running: bool = True) -> WaConnection:
    state = WaConnection.DesiredState.RUNNING if running else WaConnection.DesiredState.STOPPED
    return WaConnection.objects.create(api_key=api_key, name=name, driver="sandbox", desired_state=state)


@pytest.mark.django_db
def test_a_live_lease_refuses_other_nodes_and_an_expired_one_moves_with_a_timeline_row(api_key):
    connection = _connection(api_key, "one")
    assert leases.lease_acquire(connection_id=connection.pk, owner="node-a")
    assert not leases.lease_acquire(connection_id=connection.pk, owner="node-b")
    assert leases.lease_acquire(connection_id=connection.pk, owner="node-a"), "the owner can re-take its own lease"

    WaConnection.objects.filter(pk=connection.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert leases.lease_acquire(connection_id=connection.pk, owner="node-b")
    connection.refresh_from_db()
    assert connection.lease_owner == "node-b"
    assert connection.lease_expires_at > timezone.now()

    moves = list(
        connection.events.filter(kind=ConnectionEvent.Kind.OWNER).order_by("id").values_list("detail", flat=True)
    )
    assert [(m["from"], m["to"]) for m in moves] == [("", "node-a"), ("node-a", "node-b")]
    assert moves[1]["previous_expired"] is True


@pytest.mark.django_db
def test_renew_keeps_only_leases_still_held_and_reports_the_desired_state(api_key):
    mine = _connection(api_key, "mine")
    taken = _connection(api_key, "taken")
    stopping = _connection(api_key, "stopping")
    for connection in (mine, taken, stopping):
        assert leases.lease_acquire(connection_id=connection.pk, owner="node-a")
    WaConnection.objects.filter(pk=taken.pk).update(lease_owner="node-b")
    WaConnection.objects.filter(pk=stopping.pk).update(desired_state=WaConnection.DesiredState.STOPPED)
    before = WaConnection.objects.get(pk=mine.pk).lease_expires_at

    kept = leases.lease_renew(owner="node-a", connection_ids=[mine.pk, taken.pk, stopping.pk])

    assert kept == {mine.pk: "running", stopping.pk: "stopped"}
    assert WaConnection.objects.get(pk=mine.pk).lease_expires_at >= before
    assert WaConnection.objects.get(pk=taken.pk).lease_owner == "node-b"


@pytest.mark.django_db
def test_a_stopped_connection_cannot_be_leased_and_release_frees_it(api_key):
    stopped = _connection(api_key, "stopped", running=False)
    assert not leases.lease_acquire(connection_id=stopped.pk, owner="node-a")

    running = _connection(api_key, "running")
    assert leases.lease_acquire(connection_id=running.pk, owner="node-a")
    assert not leases.lease_release(owner="node-b", connection_id=running.pk, reason="test")
    assert leases.lease_release(owner="node-a", connection_id=running.pk, reason="test")
    running.refresh_from_db()
    assert running.lease_owner == ""
    assert leases.lease_acquire(connection_id=running.pk, owner="node-b")


@pytest.mark.django_db(transaction=True)
def test_racing_reconcilers_never_produce_two_owners(api_key):
    """Eight nodes race for the same connections at once, twice (fresh, then after expiry)."""
    connections = [_connection(api_key, f"race-{i}") for i in range(6)]
    nodes = [f"node-{i}" for i in range(8)]

    def race() -> dict[int, list[str]]:
        winners: dict[int, list[str]] = {c.pk: [] for c in connections}
        barrier = threading.Barrier(len(nodes))
        lock = threading.Lock()

        def contender(node: str) -> None:
            try:
                barrier.wait(timeout=30)
                for connection in connections:
                    if leases.lease_acquire(connection_id=connection.pk, owner=node):
                        with lock:
                            winners[connection.pk].append(node)
            finally:
                close_old_connections()

        threads = [threading.Thread(target=contender, args=(node,)) for node in nodes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        return winners

    first = race()
    for connection in connections:
        assert len(first[connection.pk]) == 1, first
        assert WaConnection.objects.get(pk=connection.pk).lease_owner == first[connection.pk][0]

    WaConnection.objects.update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    second = race()
    for connection in connections:
        assert len(second[connection.pk]) == 1, second
        row = WaConnection.objects.get(pk=connection.pk)
        assert row.lease_owner == second[connection.pk][0]
        # One owner row per successful take: exactly two per connection (or one if the same node won twice).
        moves = row.events.filter(kind=ConnectionEvent.Kind.OWNER).count()
        assert moves == (1 if first[connection.pk] == second[connection.pk] else 2)
