"""Where the whatsmeow session store lives, how it is wiped, and that web code never imports neonize."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from accounts.runtime.drivers import neonize_store as store
from tests.support.processes import database_url_under_test

BASE_DIR = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # Loopback hosts and local sockets: plaintext never leaves the machine, so no TLS is needed.
        (
            "postgres://postgres@127.0.0.1:5432/wildcat",
            "postgres://postgres@127.0.0.1:5432/wildcat?sslmode=disable&application_name=wildcat-session-3",
        ),
        ("postgres://u@localhost/wc", "postgres://u@localhost/wc?sslmode=disable&application_name=wildcat-session-3"),
        ("postgres://u@[::1]:5432/wc", "postgres://u@[::1]:5432/wc?sslmode=disable&application_name=wildcat-session-3"),
        (
            "postgres:///wc?host=/var/run/postgresql",
            "postgres:///wc?host=%2Fvar%2Frun%2Fpostgresql&sslmode=disable&application_name=wildcat-session-3",
        ),
        # Any other host: the URL's own sslmode, or TLS required.
        (
            "postgresql://u:secret@db:5432/wc",
            "postgres://u:secret@db:5432/wc?sslmode=require&application_name=wildcat-session-3",
        ),
        ("postgres://u@10.0.0.5/wc", "postgres://u@10.0.0.5/wc?sslmode=require&application_name=wildcat-session-3"),
        (
            "postgres://u@db/wc?sslmode=verify-full",
            "postgres://u@db/wc?sslmode=verify-full&application_name=wildcat-session-3",
        ),
        ("postgres://u@db/wc?sslmode=disable", "postgres://u@db/wc?sslmode=disable&application_name=wildcat-session-3"),
        (
            "postgres://u@db/wc?connect_timeout=5",
            "postgres://u@db/wc?connect_timeout=5&sslmode=require&application_name=wildcat-session-3",
        ),
    ],
)
def test_postgres_store_url_requires_tls_unless_loopback_or_told_otherwise_and_names_the_session(url, expected):
    assert store.is_postgres_url(url)
    assert store.session_store_name(connection_id=3, database_url=url, data_dir=Path("/unused")) == expected


def test_sqlite_store_is_one_file_per_connection_under_the_data_dir(tmp_path):
    first = store.session_store_name(connection_id=3, database_url="sqlite:////x/db.sqlite3", data_dir=tmp_path)
    second = store.session_store_name(connection_id=4, database_url="", data_dir=tmp_path)
    assert first == str(tmp_path / "sessions" / "connection-3.sqlite3")
    assert second == str(tmp_path / "sessions" / "connection-4.sqlite3")
    assert (tmp_path / "sessions").is_dir()
    Path(first).write_bytes(b"store")
    Path(first + "-wal").write_bytes(b"wal")
    Path(second).write_bytes(b"other store")
    assert store.sqlite_store_delete(3, tmp_path) is True
    assert not Path(first).exists() and not Path(first + "-wal").exists()
    assert Path(second).exists()  # another connection's session is untouched
    assert store.sqlite_store_delete(3, tmp_path) is False


# Listing the store's devices through the real neonize binding opens whatsmeow's store container,
# which creates (and later reads) its real tables. No client connects: this runs offline. It runs in
# a process of its own, since neonize keeps Go-side state per process.
_LIST_DEVICES = (
    "import json, sys\n"
    "from neonize.client import ClientFactory\n"
    "devices = ClientFactory.get_all_devices_from_db(sys.argv[1])\n"
    "print(json.dumps(sorted(device.JID.User for device in devices)))\n"
)
OURS = "5511888880000:7@s.whatsapp.net"
THEIRS = "5511777770000:3@s.whatsapp.net"


def _devices_seen_by_whatsmeow(store_name: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", _LIST_DEVICES, store_name], capture_output=True, text=True, timeout=120, cwd=BASE_DIR
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _link_device(cursor, jid: str) -> None:
    """The rows whatsmeow writes when a phone pairs: the device, and keys that hang off it."""
    key, signature = os.urandom(32), os.urandom(64)
    cursor.execute(
        "INSERT INTO whatsmeow_device (jid, registration_id, noise_key, identity_key, signed_pre_key,"
        " signed_pre_key_id, signed_pre_key_sig, adv_key, adv_details, adv_account_sig, adv_account_sig_key,"
        " adv_device_sig, platform, push_name)"
        " VALUES (%s, 7, %s, %s, %s, 1, %s, %s, %s, %s, %s, %s, 'android', 'Shop')",
        [jid, key, key, key, signature, key, b"details", signature, key, signature],
    )
    cursor.execute(
        "INSERT INTO whatsmeow_identity_keys (our_jid, their_id, identity) VALUES (%s, %s, %s)",
        [jid, "4915112345678.0", os.urandom(32)],
    )
    cursor.execute(
        "INSERT INTO whatsmeow_sessions (our_jid, their_id, session) VALUES (%s, %s, %s)",
        [jid, "4915112345678.0", b"session-state"],
    )


def _rows_of(cursor, jid: str) -> dict[str, int]:
    counts = {}
    for table, column in (
        ("whatsmeow_device", "jid"),
        ("whatsmeow_identity_keys", "our_jid"),
        ("whatsmeow_sessions", "our_jid"),
    ):
        cursor.execute(f"SELECT count(*) FROM {table} WHERE {column} = %s", [jid])  # noqa: S608 - fixed names
        counts[table] = cursor.fetchone()[0]
    return counts


@pytest.fixture
def whatsmeow_tables():
    """Drop whatsmeow's tables after the test: the test database's flush only knows Django's own."""
    yield
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            if table.startswith("whatsmeow_"):
                cursor.execute(f'DROP TABLE IF EXISTS "{table}" CASCADE')


@pytest.mark.postgres
@pytest.mark.production_only
@pytest.mark.django_db(transaction=True)
def test_the_postgres_store_with_whatsmeows_real_schema(whatsmeow_tables, tmp_path):
    """Created by whatsmeow in Wildcat's database; a logout deletes one device and everything hanging off it."""
    store_name = store.session_store_name(connection_id=1, database_url=database_url_under_test(), data_dir=tmp_path)
    assert store.postgres_device_delete(OURS) == 0  # no whatsmeow tables yet
    assert not store.device_exists(whatsapp_id=OURS, store_name=store_name)

    # Creation: the store name Wildcat hands neonize opens whatsmeow's store, which creates its tables.
    assert _devices_seen_by_whatsmeow(store_name) == []
    with connection.cursor() as cursor:
        tables = [t for t in connection.introspection.table_names(cursor) if t.startswith("whatsmeow_")]
        assert "whatsmeow_device" in tables and len(tables) >= 15, tables
        _link_device(cursor, OURS)
        _link_device(cursor, THEIRS)
    # whatsmeow reads both devices back: these rows are what it stores for a linked phone.
    assert _devices_seen_by_whatsmeow(store_name) == ["5511777770000:3", "5511888880000:7"]
    assert store.device_exists(whatsapp_id=OURS, store_name=store_name)
    assert store.device_exists(whatsapp_id=THEIRS, store_name=store_name)

    # Deletion on logout: the device row and, through whatsmeow's cascades, its keys and sessions.
    assert store.postgres_device_delete(OURS) == 1
    with connection.cursor() as cursor:
        assert _rows_of(cursor, OURS) == {"whatsmeow_device": 0, "whatsmeow_identity_keys": 0, "whatsmeow_sessions": 0}
        # Isolation: the other connection's linked device keeps everything.
        assert _rows_of(cursor, THEIRS) == {
            "whatsmeow_device": 1,
            "whatsmeow_identity_keys": 1,
            "whatsmeow_sessions": 1,
        }
    assert not store.device_exists(whatsapp_id=OURS, store_name=store_name)
    assert store.device_exists(whatsapp_id=THEIRS, store_name=store_name)
    assert _devices_seen_by_whatsmeow(store_name) == ["5511777770000:3"]
    assert store.postgres_device_delete(OURS) == 0
    assert store.postgres_device_delete("") == 0


def test_device_exists_in_a_sqlite_store(tmp_path):
    import sqlite3

    path = tmp_path / "connection-1.sqlite3"
    assert not store.device_exists(whatsapp_id="1:2@s.whatsapp.net", store_name=str(path))  # no file
    sqlite3.connect(path).close()
    assert not store.device_exists(whatsapp_id="1:2@s.whatsapp.net", store_name=str(path))  # no tables
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE whatsmeow_device (jid TEXT PRIMARY KEY)")
    db.execute("INSERT INTO whatsmeow_device VALUES ('1:2@s.whatsapp.net')")
    db.commit()
    db.close()
    assert store.device_exists(whatsapp_id="1:2@s.whatsapp.net", store_name=str(path))
    assert not store.device_exists(whatsapp_id="1:3@s.whatsapp.net", store_name=str(path))
    assert not store.device_exists(whatsapp_id="", store_name=str(path))


def test_web_and_task_modules_never_import_neonize():
    code = (
        "import sys, django; django.setup();"
        "import wildcat.urls, wildcat.celery, django.contrib.admin;"
        "from django.urls import get_resolver; get_resolver().url_patterns;"
        "from django.contrib import admin; admin.autodiscover();"
        "import importlib, importlib.util;"
        "[importlib.import_module(f'{app}.tasks') for app in ('accounts', 'messaging', 'webhooks', 'apikeys')"
        " if importlib.util.find_spec(f'{app}.tasks')];"
        "import accounts.runtime.drivers, accounts.runtime.drivers.neonize_store;"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'neonize');"
        "print(','.join(loaded)); sys.exit(1 if loaded else 0)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "wildcat.settings"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"neonize was imported: {result.stdout} {result.stderr[-2000:]}"
