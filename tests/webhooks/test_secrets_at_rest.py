"""Webhook secrets at rest: encrypted with WILDCAT_ENCRYPTION_KEY, untouched by a SECRET_KEY rotation."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection

from tests.webhooks.factories import EndpointFactory
from webhooks.models import WebhookEndpoint
from wildcat import secrets_at_rest

pytestmark = pytest.mark.django_db


def _stored(endpoint_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM webhooks_webhookendpoint WHERE id = %s", [endpoint_id])
        return cursor.fetchone()[0]


def test_the_column_holds_ciphertext_only(settings):
    settings.WILDCAT_ENCRYPTION_KEY = Fernet.generate_key().decode()
    endpoint = EndpointFactory()
    stored = _stored(endpoint.pk)
    assert endpoint.secret not in stored
    assert Fernet(settings.WILDCAT_ENCRYPTION_KEY).decrypt(stored.encode()).decode() == endpoint.secret


def test_rotating_secret_key_does_not_break_stored_secrets(settings):
    settings.WILDCAT_ENCRYPTION_KEY = Fernet.generate_key().decode()
    endpoint = EndpointFactory()
    settings.SECRET_KEY = "a-completely-different-secret-key-0123456789-abcdef"
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).secret == endpoint.secret


def test_a_wrong_encryption_key_fails_loudly_not_silently(settings):
    settings.WILDCAT_ENCRYPTION_KEY = Fernet.generate_key().decode()
    endpoint = EndpointFactory()
    settings.WILDCAT_ENCRYPTION_KEY = Fernet.generate_key().decode()
    with pytest.raises(ImproperlyConfigured, match="WILDCAT_ENCRYPTION_KEY"):
        WebhookEndpoint.objects.get(pk=endpoint.pk)


def test_the_encryption_key_can_be_rotated_by_listing_the_old_one_second(settings):
    old_key = Fernet.generate_key().decode()
    settings.WILDCAT_ENCRYPTION_KEY = old_key
    endpoint = EndpointFactory()
    new_key = "a passphrase rather than a Fernet key, long enough to be fine"
    settings.WILDCAT_ENCRYPTION_KEY = f"{new_key},{old_key}"
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).secret == endpoint.secret
    rewritten = secrets_at_rest.reencrypt(_stored(endpoint.pk))
    settings.WILDCAT_ENCRYPTION_KEY = new_key
    assert secrets_at_rest.decrypt(rewritten) == endpoint.secret


def test_outside_production_an_empty_key_means_a_local_key_file(settings, tmp_path):
    settings.WILDCAT_ENCRYPTION_KEY = ""
    settings.DATA_DIR = tmp_path
    token = secrets_at_rest.encrypt("whsec_x")
    key_file = tmp_path / secrets_at_rest.KEY_FILE_NAME
    assert key_file.exists() and oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert [path.name for path in tmp_path.iterdir()] == [key_file.name], "written in place, no temporary left"
    assert secrets_at_rest.decrypt(token) == "whsec_x"


def test_production_refuses_to_start_without_a_key(settings):
    settings.PRODUCTION = True
    settings.WILDCAT_ENCRYPTION_KEY = ""
    assert [error.id for error in secrets_at_rest.check_encryption_key(None)] == ["wildcat.E020"]
    with pytest.raises(ImproperlyConfigured):
        secrets_at_rest.encrypt("whsec_x")
    settings.WILDCAT_ENCRYPTION_KEY = Fernet.generate_key().decode()
    assert secrets_at_rest.check_encryption_key(None) == []
    settings.WILDCAT_ENCRYPTION_KEY = "short"
    assert [error.id for error in secrets_at_rest.check_encryption_key(None)] == ["wildcat.E021"]


def test_an_empty_key_file_is_refused_not_used(settings, tmp_path):
    """A key file read while another process was still writing it must never become a key."""
    settings.WILDCAT_ENCRYPTION_KEY = ""
    settings.DATA_DIR = tmp_path
    (tmp_path / secrets_at_rest.KEY_FILE_NAME).write_text("")
    secrets_at_rest._cipher_for.cache_clear()
    with pytest.raises(ImproperlyConfigured, match="is empty"):
        secrets_at_rest.encrypt("whsec_x")


def test_reencrypt_rewrites_every_secret_under_the_newest_key(settings):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.WILDCAT_ENCRYPTION_KEY = old_key
    endpoints = [EndpointFactory(), EndpointFactory()]
    settings.WILDCAT_ENCRYPTION_KEY = f"{new_key},{old_key}"
    out = io.StringIO()
    call_command("reencrypt", stdout=out)
    assert "Re-encrypted 2 stored secret(s)" in out.getvalue()
    settings.WILDCAT_ENCRYPTION_KEY = new_key  # the old key is dropped
    for endpoint in endpoints:
        assert Fernet(new_key).decrypt(_stored(endpoint.pk).encode()).decode() == endpoint.secret
        assert WebhookEndpoint.objects.get(pk=endpoint.pk).secret == endpoint.secret


def test_the_data_folder_is_created_private(tmp_path):
    data_dir = tmp_path / "fresh" / "data"
    script = "import os, django; os.environ['DJANGO_SETTINGS_MODULE'] = 'wildcat.settings'; django.setup()"
    env = {**os.environ, "WILDCAT_DATA_DIR": str(data_dir), "DATABASE_URL": ""}
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=120)
    assert oct(data_dir.stat().st_mode & 0o777) == "0o700"
