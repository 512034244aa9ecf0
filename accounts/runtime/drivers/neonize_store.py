"""Where the whatsmeow session store of a neonize connection lives, and how to wipe it.

The store holds the linked device's keys (identity, pre-keys, sessions, sender keys, app-state keys)
and the contact and LID mappings whatsmeow learns. It is everything needed to resume a login
without a new scan, so it must be readable by whichever worker takes the connection over:

- PostgreSQL (``DATABASE_URL`` is postgres): the same database as Wildcat, in whatsmeow's own
  ``whatsmeow_*`` tables (created by whatsmeow on first use), one device row per connection. The URL's
  own ``sslmode`` is kept; without one, TLS is required except on a loopback host or a local socket,
  where ``sslmode=disable`` lets lib/pq talk to a server without TLS. The store holds identity keys.
  Each session's store connections carry ``application_name=wildcat-session-<id>``, so an operator
  (and a test) can count them in ``pg_stat_activity``.
- SQLite: one file per connection under ``DATA_DIR/sessions/``; a shared file hits "database is
  locked" as soon as two sessions write at once. This mode is for a single machine only.

This module never imports neonize.
"""

from __future__ import annotations

import ipaddress
import logging
import sqlite3
from contextlib import closing
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.db import connection

logger = logging.getLogger(__name__)
POSTGRES_SCHEMES = ("postgres", "postgresql", "pgsql")
SESSIONS_DIRNAME = "sessions"


def is_postgres_url(database_url: str) -> bool:
    return urlsplit(database_url or "").scheme.split("+")[0] in POSTGRES_SCHEMES


def store_application_name(connection_id: int) -> str:
    """The PostgreSQL ``application_name`` of one session's store connections."""
    return f"wildcat-session-{int(connection_id)}"


def postgres_store_url(database_url: str, *, application_name: str = "") -> str:
    """The database URL in the form whatsmeow's lib/pq driver accepts: ``postgres://`` with an sslmode."""
    parts = urlsplit(database_url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if not any(key == "sslmode" for key, _ in query):
        host = dict(query).get("host") or parts.hostname or ""
        query.append(("sslmode", "disable" if _is_local_host(host) else "require"))
    if application_name and not any(key == "application_name" for key, _ in query):
        query.append(("application_name", application_name))
    return urlunsplit(("postgres", parts.netloc, parts.path, urlencode(query), ""))


def _is_local_host(host: str) -> bool:
    """Loopback or a Unix socket (no host, or a socket directory): traffic never leaves the machine."""
    if not host or host.startswith("/") or host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def sqlite_store_path(connection_id: int, data_dir: Path) -> Path:
    return Path(data_dir) / SESSIONS_DIRNAME / f"connection-{int(connection_id)}.sqlite3"


def session_store_name(*, connection_id: int, database_url: str, data_dir: Path) -> str:
    """The ``name`` argument for neonize's ``NewClient``: a postgres URL or a per-connection SQLite path."""
    if is_postgres_url(database_url):
        return postgres_store_url(database_url, application_name=store_application_name(connection_id))
    path = sqlite_store_path(connection_id, data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    return str(path)


def sqlite_store_delete(connection_id: int, data_dir: Path) -> bool:
    """Remove a connection's SQLite store with its journal files; True when something was removed."""
    removed = False
    base = sqlite_store_path(connection_id, data_dir)
    for suffix in ("", "-journal", "-wal", "-shm"):
        candidate = base.with_name(base.name + suffix)
        if candidate.exists():
            candidate.unlink()
            removed = True
    return removed


def postgres_device_delete(whatsapp_id: str) -> int:
    """Delete one linked device from whatsmeow's tables in Wildcat's own database.

    whatsmeow's tables reference ``whatsmeow_device(jid)`` with ON DELETE CASCADE, so removing the
    device row removes its keys and sessions too. Returns the number of device rows removed.
    """
    if not whatsapp_id:
        return 0
    with connection.cursor() as cursor:
        if "whatsmeow_device" not in connection.introspection.table_names(cursor):
            return 0
        cursor.execute("DELETE FROM whatsmeow_device WHERE jid = %s", [whatsapp_id])
        return cursor.rowcount


def device_exists(*, whatsapp_id: str, store_name: str) -> bool:
    """Whether the store still holds this linked device.

    neonize hands whatsmeow a nil device when the JID is missing from the store (logged out from the
    phone, store wiped), and whatsmeow then dereferences it and aborts the whole host process. So a
    resume is only attempted when the device row is there; otherwise the driver starts a fresh login.
    """
    if not whatsapp_id:
        return False
    if is_postgres_url(store_name):
        return _postgres_device_exists(whatsapp_id)
    path = Path(store_name)
    if not path.exists():
        return False
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as db:
            row = db.execute("SELECT 1 FROM whatsmeow_device WHERE jid = ?", (whatsapp_id,)).fetchone()
    except sqlite3.Error:  # no whatsmeow tables yet: nothing was ever paired here
        return False
    return row is not None


def _postgres_device_exists(whatsapp_id: str) -> bool:
    with connection.cursor() as cursor:
        if "whatsmeow_device" not in connection.introspection.table_names(cursor):
            return False
        cursor.execute("SELECT 1 FROM whatsmeow_device WHERE jid = %s", [whatsapp_id])
        return cursor.fetchone() is not None
