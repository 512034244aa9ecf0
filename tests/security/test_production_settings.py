"""Production settings as an operator runs them: `check --deploy` is clean, CORS allows nobody by default,
and webhook secrets survive a SECRET_KEY rotation in a fresh process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

from tests.support.processes import PROJECT_ROOT, child_env

PRODUCTION_ENV = {
    "WILDCAT_PRODUCTION": "true",
    "WILDCAT_DEBUG": "false",
    "WILDCAT_SECRET_KEY": "prod-Q7v#k2!mZr9@xLp4$wT8^nB1&cY6*eH3(uJ5)fD0_gS-aK",
    "WILDCAT_ALLOWED_HOSTS": "wildcat.example.com",
    "WILDCAT_CSRF_TRUSTED_ORIGINS": "https://wildcat.example.com",
    "WILDCAT_ENCRYPTION_KEY": Fernet.generate_key().decode(),
}


def _manage(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=180
    )


def _clean_env(tmp_path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WILDCAT_", "DJANGO_"))}
    env.update(WILDCAT_DATA_DIR=str(tmp_path), DATABASE_URL="", REDIS_URL="", **extra)
    return env


def test_check_deploy_is_clean_under_production_settings(tmp_path):
    result = _manage(["check", "--deploy", "--fail-level", "WARNING"], _clean_env(tmp_path, **PRODUCTION_ENV))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_complains_without_production_settings(tmp_path):
    """The same command fails on the embedded defaults, so the clean run above means something."""
    env = _clean_env(tmp_path, WILDCAT_SECRET_KEY=PRODUCTION_ENV["WILDCAT_SECRET_KEY"])
    result = _manage(["check", "--deploy", "--fail-level", "WARNING"], env)
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in result.stderr + result.stdout, warning


def test_production_settings_values(tmp_path):
    code = (
        "from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, s.SECURE_SSL_REDIRECT, "
        "s.ALLOWED_HOSTS, s.CSRF_TRUSTED_ORIGINS, s.CORS_ALLOWED_ORIGINS, getattr(s, 'CORS_ALLOW_ALL_ORIGINS', False))"
    )
    env = _clean_env(tmp_path, **PRODUCTION_ENV)
    result = _manage(["shell", "--no-imports", "-c", code], env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "True True 31536000 True ['wildcat.example.com'] ['https://wildcat.example.com'] [] False"
    )


@pytest.mark.django_db
def test_cors_allows_no_origin_by_default(api_client):
    response = api_client.get("/api/v1/me", HTTP_ORIGIN="https://attacker.example")
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response
    preflight = api_client.options(
        "/api/v1/me", HTTP_ORIGIN="https://attacker.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET"
    )
    assert "Access-Control-Allow-Origin" not in preflight


@pytest.mark.django_db
def test_cors_allows_exactly_the_listed_origins(api_client, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://dashboard.example"]
    allowed = api_client.get("/api/v1/me", HTTP_ORIGIN="https://dashboard.example")
    assert allowed["Access-Control-Allow-Origin"] == "https://dashboard.example"
    refused = api_client.get("/api/v1/me", HTTP_ORIGIN="https://attacker.example")
    assert "Access-Control-Allow-Origin" not in refused
    # The admin is never a CORS target.
    assert "Access-Control-Allow-Origin" not in api_client.get("/admin/login/", HTTP_ORIGIN="https://dashboard.example")


@pytest.mark.django_db(transaction=True)
def test_webhook_secrets_survive_a_secret_key_rotation(api_client, settings):
    """Another process, started with a new SECRET_KEY and the same encryption key, signs with the same secret."""
    settings.WILDCAT_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.WILDCAT_ENCRYPTION_KEY = PRODUCTION_ENV["WILDCAT_ENCRYPTION_KEY"]
    created = api_client.post("/api/v1/webhooks", {"url": "http://127.0.0.1:9/hook"}, format="json")
    assert created.status_code == 201, created.content
    endpoint_id, secret = created.json()["id"], created.json()["secret"]
    code = (
        "from webhooks.models import WebhookEndpoint as E; from webhooks import signing; "
        f"e = E.objects.get(pk={endpoint_id}); print(e.secret)"
    )
    env = child_env(
        WILDCAT_SECRET_KEY="rotated-" + "k" * 60,
        WILDCAT_ENCRYPTION_KEY=settings.WILDCAT_ENCRYPTION_KEY,
        WILDCAT_WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8",
    )
    result = _manage(["shell", "--no-imports", "-c", code], env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == secret
    # And a wrong encryption key fails loudly instead of signing with garbage.
    env["WILDCAT_ENCRYPTION_KEY"] = Fernet.generate_key().decode()
    failed = _manage(["shell", "--no-imports", "-c", code], env)
    assert failed.returncode != 0 and "WILDCAT_ENCRYPTION_KEY" in failed.stderr


@pytest.mark.parametrize(("value", "threshold"), [("true", str(2**31 - 1)), ("false", "None"), (None, str(2**31 - 1))])
def test_prepared_statements_can_be_turned_off_for_a_pooler(tmp_path, value, threshold):
    """PostgreSQL connections allow explicit prepares (never automatic ones) unless the operator says no."""
    env = _clean_env(tmp_path, WILDCAT_SECRET_KEY=PRODUCTION_ENV["WILDCAT_SECRET_KEY"])
    env["DATABASE_URL"] = "postgres://wildcat@db.example.com:5432/wildcat"  # settings only: never connected
    if value is not None:
        env["WILDCAT_DB_PREPARED_STATEMENTS"] = value
    code = "from django.conf import settings; print(settings.DATABASES['default']['OPTIONS'].get('prepare_threshold'))"
    result = _manage(["shell", "-c", code], env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == threshold
