"""The send path's INSERT writes exactly what ``Model.save()`` would, in the caller's transaction."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from messaging.message_insert import message_insert
from messaging.models import Message
from wildcat.whatsapp import generate_message_id

pytestmark = pytest.mark.django_db

SKIPPED = {"id", "wa_message_id", "created_at", "updated_at"}


def _values(connection, **extra) -> dict:
    return {
        "api_key_id": connection.api_key_id,
        "connection_id": connection.pk,
        "direction": Message.Direction.OUTBOUND,
        "from_me": True,
        "wa_message_id": generate_message_id(),
        "chat_jid": "15551230000@s.whatsapp.net",
        "sender_jid": connection.whatsapp_id,
        "type": "text",
        "text": "héllo ✓",
        "status": Message.Status.QUEUED,
        **extra,
    }


def _columns(message: Message) -> dict:
    return {f.attname: getattr(message, f.attname) for f in Message._meta.concrete_fields}


def test_the_stored_row_matches_the_returned_message_and_a_saved_one(connection):
    inserted = message_insert(_values(connection))
    saved = Message(**_values(connection))
    saved.save()

    stored = Message.objects.get(pk=inserted.pk)
    assert _columns(stored) == _columns(inserted)
    assert inserted._state.adding is False and inserted._state.db == "default"
    assert stored.created_at == stored.updated_at
    reread_saved = Message.objects.get(pk=saved.pk)
    differing = {
        name for name, value in _columns(stored).items() if name not in SKIPPED and value != getattr(reread_saved, name)
    }
    assert differing == set()


def test_given_values_override_the_defaults(connection):
    quoted = message_insert(_values(connection))
    values = _values(
        connection,
        content={"emoji": "👍"},
        raw={"quote": {"text": "hi"}},
        quoted_id=quoted.pk,
        idempotency_key="key-1",
        request_hash="a" * 64,
    )
    stored = Message.objects.get(pk=message_insert(values).pk)
    assert (stored.content, stored.raw, stored.quoted_id) == ({"emoji": "👍"}, {"quote": {"text": "hi"}}, quoted.pk)
    assert (stored.idempotency_key, stored.request_hash) == ("key-1", "a" * 64)


def test_each_message_gets_its_own_json_defaults(connection):
    first, second = message_insert(_values(connection)), message_insert(_values(connection))
    first.content["changed"] = True
    assert second.content == {} and first.reactions is not second.reactions


def test_it_runs_in_the_callers_transaction(connection):
    before = Message.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        message_insert(_values(connection))
        assert Message.objects.count() == before + 1
        raise RuntimeError("roll back")
    assert Message.objects.count() == before


def test_a_duplicate_whatsapp_id_is_djangos_integrity_error(connection):
    values = _values(connection)
    message_insert(values)
    with pytest.raises(IntegrityError), transaction.atomic():
        message_insert({**values})
    assert Message.objects.filter(wa_message_id=values["wa_message_id"]).count() == 1


def test_postgresql_prepares_the_insert_once_per_connection(connection):
    from django.db import connection as database

    if database.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    for _ in range(3):
        message_insert(_values(connection))
    with database.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        statements = [row[0] for row in cursor.fetchall()]
    assert [s for s in statements if s.startswith('INSERT INTO "messaging_message"')] != []
    assert len(statements) == len(set(statements))


def test_an_unknown_field_is_refused_before_anything_is_written(connection):
    before = Message.objects.count()
    with pytest.raises(TypeError, match="no_such_field"):
        message_insert(_values(connection, no_such_field=1))
    assert Message.objects.count() == before


def test_the_database_refuses_a_message_whose_connection_is_gone(connection):
    from django.db import connection as database

    orphan = message_insert(_values(connection, connection_id=connection.pk + 10_000))
    with pytest.raises(IntegrityError, match="connection_id"), transaction.atomic():
        database.check_constraints(table_names=[Message._meta.db_table])
    Message.objects.filter(pk=orphan.pk).delete()  # the test database is checked again at teardown


def test_messages_carry_their_connections_key_and_go_with_it(api_client, connection):
    from django.db.models import F

    from messaging.inbound import message_receive
    from tests.messaging.test_inbound import inbound
    from tests.messaging.test_send_api import send

    assert send(api_client, connection, {"to": "+49 151 23456789", "text": "out"}).status_code == 202
    message_receive(connection_id=connection.pk, message=inbound("IN1"))
    message_insert(_values(connection))
    assert Message.objects.filter(connection=connection).count() == 3
    assert not Message.objects.exclude(api_key_id=F("connection__api_key_id")).exists()

    connection.api_key.delete()
    assert not Message.objects.filter(connection_id=connection.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_a_send_on_a_dropped_database_connection_is_a_503_and_the_next_one_reconnects(api_client, connection):
    import psycopg
    from django.db import close_old_connections
    from django.db import connection as database

    from tests.messaging.test_send_api import send

    if database.vendor != "postgresql":
        pytest.skip("the prepared INSERT is PostgreSQL's")
    assert send(api_client, connection, {"to": "+49 151 23456789", "text": "before"}).status_code == 202
    backend_pid = database.connection.info.backend_pid
    settings_dict = database.settings_dict
    with psycopg.connect(
        dbname=settings_dict["NAME"], user=settings_dict["USER"], host=settings_dict["HOST"], port=settings_dict["PORT"]
    ) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [backend_pid])

    dropped = send(api_client, connection, {"to": "+49 151 23456789", "text": "during"})
    assert dropped.status_code == 503 and dropped.json()["error"]["code"] == "service_unavailable"
    # What Django runs when a request finishes (its test client leaves it out): the broken
    # connection is noticed and closed, so the next request opens a new one.
    close_old_connections()
    assert database.connection is None
    after = send(api_client, connection, {"to": "+49 151 23456789", "text": "after"})
    assert after.status_code == 202
    assert list(Message.objects.order_by("id").values_list("text", flat=True)) == ["before", "after"]
