"""Where the whatsmeow session store lives, how it is wiped, and that web code never imports neonize."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from accounts.runtime.drivers import neonize_store as store

BASE_DIR = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgres://postgres@127.0.0.1:5432/wildcat",
            "postgres://postgres@127.0.0.1:5432/wildcat?sslmode=disable&application_name=wildcat-session-3",
        ),
        (
            "postgresql://u:secret@db:5432/wc",
            "postgres://u:secret@db:5432/wc?sslmode=disable&application_name=wildcat-session-3",
        ),
        ("postgres://u@db/wc?sslmode=require", "postgres://u@db/wc?sslmode=require&application_name=wildcat-session-3"),
        (
            "postgres://u@db/wc?connect_timeout=5",
            "postgres://u@db/wc?connect_timeout=5&sslmode=disable&application_name=wildcat-session-3",
        ),
    ],
)
def test_postgres_store_url_gets_sslmode_disable_and_the_session_application_name(url, expected):
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


@pytest.mark.django_db
def test_postgres_device_delete_removes_only_that_device():
    assert store.postgres_device_delete("5511888880000:7@s.whatsapp.net") == 0  # no whatsmeow tables yet
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE whatsmeow_device (jid TEXT PRIMARY KEY)")
        cursor.execute(
            "INSERT INTO whatsmeow_device (jid) VALUES (%s), (%s)",
            ["5511888880000:7@s.whatsapp.net", "5511777770000:3@s.whatsapp.net"],
        )
    assert store.postgres_device_delete("5511888880000:7@s.whatsapp.net") == 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT jid FROM whatsmeow_device")
        assert [row[0] for row in cursor.fetchall()] == ["5511777770000:3@s.whatsapp.net"]
    assert store.postgres_device_delete("") == 0
    postgres = "postgres://u@db/wc"
    assert store.device_exists(whatsapp_id="5511777770000:3@s.whatsapp.net", store_name=postgres)
    assert not store.device_exists(whatsapp_id="5511888880000:7@s.whatsapp.net", store_name=postgres)


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
