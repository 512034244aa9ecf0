"""Writing a new message row: what ``Message(**values).save()`` does, without the ORM's per-call work.

A send is the API's hottest write. ``Model.save()`` rebuilds its SQL, runs the save machinery and
prepares every one of the row's values on every call; here the statement, and the prepared value of
each column the caller leaves at its default, are built once per database alias. The returned
instance is built the way rows read from the database are (positional, no keyword matching).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from django.db import connections, models
from django.utils import timezone
from psycopg.sql import Literal

from messaging.models import Message


@dataclass(frozen=True)
class _Parameter:
    attname: str | None  # the caller's value for this field, or None for the field's fixed default
    field: Any
    plain_type: type | None  # the one value type that needs no preparation (a str for a text column...)
    default: Any  # the field's default, prepared for this database


@dataclass(frozen=True)
class _Statement:
    sql: str
    parameters: list[_Parameter]


_statements: dict[tuple[str, frozenset[str]], _Statement] = {}
_AUTO_NOW = ("created_at", "updated_at")
# Column kinds whose prepared value is the value itself, when it is exactly of this type.
_PLAIN_TYPES = (
    (models.CharField, str),
    (models.TextField, str),
    (models.BooleanField, bool),
    (models.IntegerField, int),
    (models.ForeignKey, int),
)


def _plain_type(field) -> type | None:
    return next((kind for field_class, kind in _PLAIN_TYPES if isinstance(field, field_class)), None)


def _statement(connection, attnames: frozenset[str]) -> _Statement:
    """The INSERT for rows that set these fields, built once per database alias and set of fields.

    On PostgreSQL the other columns' defaults are written into the statement as literals (quoted by
    psycopg), so only the given values travel as parameters; elsewhere every column is a parameter.
    """
    key = (connection.alias, attnames)
    statement = _statements.get(key)
    if statement is None:
        meta = Message._meta
        inline_defaults = connection.vendor == "postgresql"
        placeholders, parameters = [], []
        fields = [f for f in meta.local_concrete_fields if f is not meta.auto_field]
        unknown = attnames - {f.attname for f in fields}
        if unknown:
            raise TypeError(f"Message has no fields {sorted(unknown)}")
        for field in fields:
            default = field.get_db_prep_save(field.get_default(), connection)
            if field.attname in attnames or not inline_defaults:
                placeholders.append("%s")
                attname = field.attname if field.attname in attnames else None
                parameters.append(_Parameter(attname, field, _plain_type(field), default))
            else:
                placeholders.append(_literal(default))
        quote = connection.ops.quote_name
        # Only the model's own names, quoted, and literals psycopg quoted go into the text.
        sql = "INSERT INTO {} ({}) VALUES ({})".format(  # noqa: S608
            quote(meta.db_table), ", ".join(quote(f.column) for f in fields), ", ".join(placeholders)
        )
        if connection.features.can_return_columns_from_insert:
            sql += f" RETURNING {quote(meta.pk.column)}"
        statement = _statements[key] = _Statement(sql=sql, parameters=parameters)
    return statement


def _literal(value: Any) -> str:
    """A prepared default as PostgreSQL SQL text, quoted by psycopg (the defaults are plain ASCII)."""
    return Literal(value).as_string(None)


def message_insert(values: dict[str, Any]) -> Message:
    """Insert one new message with these field values (by attname; the rest take their defaults).

    ``created_at`` and ``updated_at`` are set to now, like ``auto_now`` fields on ``save()``. Runs in
    the caller's transaction, or as its own when there is none.
    """
    connection = connections[Message.objects.db]
    now = timezone.now()
    values = {**values, _AUTO_NOW[0]: now, _AUTO_NOW[1]: now}
    statement = _statement(connection, frozenset(values))
    params = []
    for parameter in statement.parameters:
        if parameter.attname is None:
            params.append(parameter.default)
            continue
        value = values[parameter.attname]
        plain = type(value) is parameter.plain_type
        params.append(value if plain else parameter.field.get_db_prep_save(value, connection))
    if connection.vendor == "postgresql":
        pk = _execute_server_bound(connection, statement.sql, params)
    else:
        with connection.cursor() as cursor:
            cursor.execute(statement.sql, params)
            if connection.features.can_return_columns_from_insert:
                pk = cursor.fetchone()[0]
            else:
                pk = connection.ops.last_insert_id(cursor, Message._meta.db_table, Message._meta.pk.column)
    return Message.from_db(connection.alias, None, _row(pk, values))


def _row(pk: int, values: dict[str, Any]) -> list:
    """Every concrete field's value in model order, as ``from_db`` takes them."""
    return [
        pk if field.primary_key else values[field.attname] if field.attname in values else field.get_default()
        for field in Message._meta.concrete_fields  # get_default() gives each row its own mutable JSON default
    ]


def _execute_server_bound(connection, sql: str, params: list) -> int:
    """Run the INSERT with its values sent beside the statement, prepared once per connection.

    Django's psycopg cursors bind on the client, quoting every value into a new statement text that
    PostgreSQL parses and plans each time. A plain ``psycopg.Cursor`` on the same connection (same
    transaction, same adapters) sends the values as parameters; with prepared statements allowed
    (``WILDCAT_DB_PREPARED_STATEMENTS``, the default) the plan is made once per connection.
    """
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_no_broken_transaction()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        # psycopg ignores ``prepare`` on a connection where prepared statements are turned off.
        cursor.execute(sql, params, prepare=True)
        return cursor.fetchone()[0]
