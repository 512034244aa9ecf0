"""Database plumbing shared by the apps: transactions whose commit need not wait for the disk flush."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction


def commit_without_flush_wait() -> None:
    """Let PostgreSQL acknowledge the current transaction's commit before its WAL reaches disk.

    Only for rows whose loss in a crash is harmless because the work they describe runs again: a
    crash can then forget the newest commits, never corrupt or half-apply them. Call it inside the
    transaction it applies to (``SET LOCAL``); other databases ignore it.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


@contextmanager
def atomic_without_flush_wait() -> Iterator[None]:
    """``transaction.atomic()`` whose commit does not wait for the disk flush (see above)."""
    with transaction.atomic():
        commit_without_flush_wait()
        yield
