"""Django system checks report misconfiguration before Wildcat serves anything."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from tests.support.processes import PROJECT_ROOT
from wildcat import checks


def _ids(messages: list) -> set[str]:
    return {message.id for message in messages}


def test_short_secret_outside_debug_is_an_error(settings):
    # An empty one is covered end to end below: Django refuses to even read it in-process.
    settings.DEBUG = False
    settings.SECRET_KEY = "short"
    assert "wildcat.E002" in _ids(checks.check_secret_key(None))
    settings.SECRET_KEY = "k" * 50
    assert checks.check_secret_key(None) == []


def test_bad_rate_is_an_error(settings):
    settings.WILDCAT_API_RATE = "lots/min"
    assert "wildcat.E005" in _ids(checks.check_limits(None))
    with pytest.raises(SystemCheckError, match="WILDCAT_API_RATE"):
        call_command("check")


def test_bad_cidr_is_an_error(settings):
    settings.WILDCAT_WEBHOOK_ALLOWED_NETWORKS = ["10.0.0.0/8", "10.0.0.300/24"]
    problems = checks.check_limits(None)
    assert _ids(problems) == {"wildcat.E004"}
    assert "10.0.0.300/24" in problems[0].msg


def test_page_size_larger_than_the_maximum_is_an_error(settings):
    settings.WILDCAT_DEFAULT_PAGE_SIZE = 500
    settings.WILDCAT_MAX_PAGE_SIZE = 100
    assert "wildcat.E003" in _ids(checks.check_limits(None))


def test_a_real_start_without_a_secret_refuses_to_run(tmp_path):
    """The whole path, as an operator meets it: `manage.py check` exits non-zero and says why."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("WILDCAT_SECRET_KEY")}
    env.update(WILDCAT_DEBUG="false", WILDCAT_DATA_DIR=str(tmp_path), DATABASE_URL="")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "wildcat.E001" in result.stderr and "WILDCAT_SECRET_KEY is not set" in result.stderr


def test_an_unparseable_number_stops_settings_with_the_variable_name(tmp_path):
    env = dict(os.environ, WILDCAT_MAX_BODY_BYTES="lots", WILDCAT_DATA_DIR=str(tmp_path), DATABASE_URL="")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "WILDCAT_MAX_BODY_BYTES must be an integer" in result.stderr


def test_an_sqlite_without_returning_and_materialized_ctes_is_an_error(monkeypatch):
    import sqlite3

    from django.conf import settings

    default = settings.DATABASES["default"]
    monkeypatch.setitem(default, "ENGINE", "django.db.backends.sqlite3")
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 34, 1))
    assert _ids(checks.check_sqlite_version(None)) == {"wildcat.E006"}
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 35, 0))
    assert checks.check_sqlite_version(None) == []
    monkeypatch.setitem(default, "ENGINE", "django.db.backends.postgresql")
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 34, 1))
    assert checks.check_sqlite_version(None) == []  # only SQLite itself is checked
