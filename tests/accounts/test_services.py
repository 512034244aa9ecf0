"""The connection state machine and the durable command services."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.utils import timezone

from accounts import services
from accounts.models import ConnectionEvent, SessionCommand, WaConnection
from accounts.session_commands import (
    session_command_cancel,
    session_command_claim,
    session_command_create,
    session_command_finish,
    session_command_wait,
)
from tests.accounts.factories import ConnectionFactory, SessionCommandFactory
from wildcat.errors import AppError, ErrorCode
from wildcat.whatsapp import AccountInfo

pytestmark = pytest.mark.django_db
Status = WaConnection.Status
STAMPS = {
    "authenticated": "authenticated_at",
    "ready": "ready_at",
    "auth_failed": "auth_failed_at",
    "disconnected": "disconnected_at",
    "logged_out": "logged_out_at",
}


# The state machine as the product promises it, written out here rather than read from the code
# under test: a change to the production table must change this one too.
EXPECTED_TRANSITIONS = {
    "not_started": {"pending", "authenticated", "ready", "auth_failed", "disconnected", "logged_out"},
    # A fresh login pairs before it is ready, so pending never jumps straight to ready.
    "pending": {"not_started", "authenticated", "auth_failed", "disconnected", "logged_out"},
    "authenticated": {"ready", "auth_failed", "disconnected", "logged_out"},
    "ready": {"disconnected", "logged_out"},
    "disconnected": {"pending", "authenticated", "ready", "auth_failed", "logged_out"},
    "auth_failed": {"not_started", "pending", "logged_out"},
    "logged_out": {"not_started", "pending"},
}


def _all_pairs():
    return [(a, b) for a in EXPECTED_TRANSITIONS for b in EXPECTED_TRANSITIONS if a != b]


def test_the_expected_table_names_every_status():
    assert set(EXPECTED_TRANSITIONS) == set(Status.values)


@pytest.mark.parametrize(("from_status", "to_status"), _all_pairs())
def test_every_transition_is_either_applied_or_refused(from_status, to_status):
    connection = ConnectionFactory(running=True, status=from_status)
    allowed = to_status in EXPECTED_TRANSITIONS[from_status]
    if not allowed:
        with pytest.raises(services.InvalidTransition):
            services.connection_transition(connection_id=connection.pk, to_status=to_status)
        assert WaConnection.objects.get(pk=connection.pk).status == from_status
        assert not ConnectionEvent.objects.filter(connection=connection).exists()
        return
    assert services.connection_transition(connection_id=connection.pk, to_status=to_status, reason="test") is True
    row = WaConnection.objects.get(pk=connection.pk)
    assert row.status == to_status
    if to_status in STAMPS:
        assert getattr(row, STAMPS[to_status]) is not None
    event = ConnectionEvent.objects.get(connection=connection)
    assert (event.kind, event.from_status, event.to_status) == ("state", from_status, to_status)


def test_the_happy_path_and_refusals():
    connection = ConnectionFactory(running=True)
    services.connection_qr_issue(connection_id=connection.pk, qr="2@a,b,c,d", expires_in=60)
    with pytest.raises(services.InvalidTransition):
        services.connection_transition(connection_id=connection.pk, to_status=Status.READY)  # pending must pair
    account = AccountInfo(whatsapp_id="4915100000001:2@s.whatsapp.net", phone_number="+4915100000001")
    services.connection_transition(connection_id=connection.pk, to_status=Status.AUTHENTICATED, account=account)
    services.connection_transition(connection_id=connection.pk, to_status=Status.READY)
    assert services.connection_transition(connection_id=connection.pk, to_status=Status.READY) is False
    row = WaConnection.objects.get(pk=connection.pk)
    assert row.status == "ready" and row.phone_number == "+4915100000001"
    assert row.authenticated_at <= row.ready_at and row.last_qr == ""
    with pytest.raises(services.InvalidTransition):
        services.connection_transition(connection_id=connection.pk, to_status=Status.PENDING)
    kinds = list(ConnectionEvent.objects.filter(connection=connection).order_by("id").values_list("kind", "to_status"))
    assert kinds == [("state", "pending"), ("qr", ""), ("state", "authenticated"), ("state", "ready")]


def test_logged_out_stops_and_a_qr_is_ignored_when_stopped():
    connection = ConnectionFactory(running=True, status=Status.READY)
    services.connection_transition(connection_id=connection.pk, to_status=Status.LOGGED_OUT)
    row = WaConnection.objects.get(pk=connection.pk)
    assert row.desired_state == "stopped"
    assert services.connection_qr_issue(connection_id=connection.pk, qr="2@x,y,z,w", expires_in=20) is False
    assert WaConnection.objects.get(pk=connection.pk).status == "logged_out"


def test_create_validates_and_records_a_timeline_row(api_key):
    connection = services.connection_create(api_key_id=api_key.pk, name="  shop  ", driver="neonize")
    assert connection.name == "shop" and connection.status == "not_started"
    assert connection.events.get().detail == {"created": True}
    with pytest.raises(AppError) as taken:
        services.connection_create(api_key_id=api_key.pk, name="shop", driver="sandbox")
    assert taken.value.code == ErrorCode.NAME_TAKEN
    with pytest.raises(AppError) as invalid:
        services.connection_create(api_key_id=api_key.pk, name="other", driver="carrier-pigeon")
    assert invalid.value.code == ErrorCode.INVALID_REQUEST and "driver" in invalid.value.details
    assert WaConnection.objects.count() == 1


def test_record_event_for_the_runtime():
    connection = ConnectionFactory()
    row = services.connection_record_event(connection_id=connection.pk, kind="owner", detail={"to": "node-b"})
    assert row.kind == "owner" and row.detail == {"to": "node-b"}
    assert services.connection_record_event(connection_id=999_999, kind="crash", detail={}) is None
    with pytest.raises(ValueError):
        services.connection_record_event(connection_id=connection.pk, kind="gossip", detail={})


def test_claim_in_id_order_and_finish():
    connection = ConnectionFactory(running=True)
    first = session_command_create(connection=connection, kind="call", payload={"op": "list_groups"})
    second = session_command_create(connection=connection, kind="logout", payload={})
    claimed = session_command_claim(connection_id=connection.pk)
    assert claimed.pk == first.pk and claimed.status == "running" and claimed.attempts == 1
    assert [c.pk for c in session_command_claim(connection_id=connection.pk, limit=5)] == [second.pk]
    assert session_command_claim(connection_id=connection.pk) is None
    done = session_command_finish(command_id=first.pk, result={"results": []})
    assert done.status == "done" and done.result == {"results": []}
    # Finishing twice changes nothing.
    again = session_command_finish(command_id=first.pk, error="late failure")
    assert again.status == "done" and again.error == ""


def test_transient_failures_retry_until_the_attempts_run_out(settings):
    settings.WILDCAT_COMMAND_MAX_ATTEMPTS = 2
    command = SessionCommandFactory()
    cid = command.connection_id
    session_command_claim(connection_id=cid)
    assert session_command_finish(command_id=command.pk, error="session_gone", retry=True).status == "pending"
    session_command_claim(connection_id=cid)
    failed = session_command_finish(command_id=command.pk, error="session_gone", retry=True)
    assert failed.status == "failed" and failed.attempts == 2
    assert ConnectionEvent.objects.filter(connection_id=cid, kind="error").count() == 1


def test_a_command_orphaned_while_running_is_claimed_again_when_stale(settings):
    settings.WILDCAT_COMMAND_STALE_SECONDS = 30
    command = SessionCommandFactory()
    session_command_claim(connection_id=command.connection_id)
    assert session_command_claim(connection_id=command.connection_id) is None
    SessionCommand.objects.filter(pk=command.pk).update(updated_at=timezone.now() - timedelta(seconds=31))
    again = session_command_claim(connection_id=command.connection_id)
    assert again.pk == command.pk and again.attempts == 2


def test_pair_code_result_lands_on_the_connection():
    connection = ConnectionFactory(running=True, status="pending")
    command = services.connection_request_pair_code(connection=connection, phone="+4915112345678")
    session_command_claim(connection_id=connection.pk)
    session_command_finish(command_id=command.pk, result={"code": "ABCD1234", "phone": "4915112345678"})
    row = WaConnection.objects.get(pk=connection.pk)
    assert row.pair_code == "ABCD1234" and row.pair_code_at is not None
    assert ConnectionEvent.objects.filter(connection=connection, kind="pair_code").exists()


def test_wait_returns_when_done_or_after_the_timeout(settings):
    settings.WILDCAT_COMMAND_POLL_SECONDS = 0.02
    command = SessionCommandFactory()
    pending = session_command_wait(command_id=command.pk, timeout=0.1)
    assert pending.status == "pending"
    session_command_finish(command_id=command.pk, result={"ok": True})
    assert session_command_wait(command_id=command.pk, timeout=5).status == "done"


@pytest.mark.django_db(transaction=True)
def test_two_claimers_never_get_the_same_command():
    connection = ConnectionFactory(running=True)
    for _ in range(20):
        session_command_create(connection=connection, kind="call", payload={"op": "list_groups"})
    results: list[list[int]] = [[], []]

    def claim(slot: int) -> None:
        try:
            while (command := session_command_claim(connection_id=connection.pk)) is not None:
                results[slot].append(command.pk)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    claimed = results[0] + results[1]
    assert sorted(claimed) == sorted(set(claimed)) and len(claimed) == 20


def test_cancel_withdraws_only_a_pending_command():
    command = SessionCommandFactory()
    assert session_command_cancel(command_id=command.pk) is True
    cancelled = SessionCommand.objects.get(pk=command.pk)
    assert cancelled.status == "failed" and "cancelled" in cancelled.error
    assert session_command_claim(connection_id=command.connection_id) is None
    running = SessionCommandFactory(connection=command.connection)
    session_command_claim(connection_id=command.connection_id)
    assert session_command_cancel(command_id=running.pk) is False
    assert SessionCommand.objects.get(pk=running.pk).status == "running"
