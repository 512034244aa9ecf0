"""Show-once: the admin reveals a new key a single time; createapikey prints only the key."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from apikeys import keys
from apikeys.models import ApiKey
from tests.apikeys.factories import ApiKeyFactory

pytestmark = pytest.mark.django_db
KEY_RE = re.compile(r"wc_live_[0-9A-Za-z]{38}")


def test_admin_shows_the_new_key_once_with_a_copy_button(admin_client, admin_user):
    response = admin_client.post("/admin/apikeys/apikey/add/", {"label": "crm"}, follow=True)
    assert response.status_code == 200
    page = response.content.decode()
    shown = KEY_RE.findall(page)
    assert len(set(shown)) == 1, "the new key appears on the page after creation"
    secret = shown[0]
    assert 'data-testid="api-key-secret"' in page and ">Copy</button>" in page
    api_key = ApiKey.objects.get(label="crm")
    assert api_key.token_hash == keys.hash_key(secret)
    assert api_key.created_by == admin_user
    reloaded = admin_client.get(f"/admin/apikeys/apikey/{api_key.pk}/change/").content.decode()
    assert secret not in reloaded and not KEY_RE.search(reloaded)
    assert api_key.token_prefix in reloaded  # the display prefix stays, for identification
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=secret)
    assert client.get("/api/v1/me").json()["label"] == "crm"


def test_another_keys_page_does_not_consume_or_show_the_secret(admin_client):
    other = ApiKeyFactory()
    admin_client.post("/admin/apikeys/apikey/add/", {"label": "fresh"})
    fresh = ApiKey.objects.get(label="fresh")
    assert not KEY_RE.search(admin_client.get(f"/admin/apikeys/apikey/{other.pk}/change/").content.decode())
    assert KEY_RE.search(admin_client.get(f"/admin/apikeys/apikey/{fresh.pk}/change/").content.decode())


def test_admin_revoke_action_makes_the_next_request_401(admin_client):
    victim, bystander = ApiKeyFactory(), ApiKeyFactory()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {victim.secret}")
    assert client.get("/api/v1/me").status_code == 200
    response = admin_client.post(
        "/admin/apikeys/apikey/",
        {"action": "revoke_selected", "_selected_action": [victim.pk]},
        follow=True,
    )
    assert "Revoked 1 API key(s)." in response.content.decode()
    victim.refresh_from_db()
    bystander.refresh_from_db()
    assert victim.status == ApiKey.Status.REVOKED and victim.revoked_at is not None
    assert bystander.status == ApiKey.Status.ACTIVE
    assert client.get("/api/v1/me").status_code == 401


def test_keys_cannot_be_deleted_from_the_admin(admin_client):
    api_key = ApiKeyFactory()
    assert admin_client.get(f"/admin/apikeys/apikey/{api_key.pk}/delete/").status_code == 403


def test_createapikey_prints_only_the_key():
    out, err = io.StringIO(), io.StringIO()
    call_command("createapikey", "--label", "cli", stdout=out, stderr=err)
    printed = out.getvalue()
    assert KEY_RE.fullmatch(printed.strip()), printed
    assert printed.count("\n") == 1 and err.getvalue() == ""
    assert ApiKey.objects.get(label="cli").token_hash == keys.hash_key(printed.strip())


def test_createapikey_refuses_a_duplicate_label():
    call_command("createapikey", "--label", "dup", stdout=io.StringIO())
    with pytest.raises(CommandError, match="already exists"):
        call_command("createapikey", "--label", "dup", stdout=io.StringIO())


def test_admin_answers_a_label_taken_meanwhile_with_a_message_not_a_500(admin_client, monkeypatch):
    from apikeys import admin as apikeys_admin
    from apikeys.services import apikey_create

    def another_admin_was_faster(*, label, created_by=None):
        apikey_create(label=label)  # the same label, created after the form was validated
        return apikey_create(label=label, created_by=created_by)

    monkeypatch.setattr(apikeys_admin, "apikey_create", another_admin_was_faster)
    response = admin_client.post("/admin/apikeys/apikey/add/", {"label": "crm"}, follow=True)
    assert response.status_code == 200
    assert "An API key with this label already exists." in response.content.decode()
    assert response.redirect_chain[-1][0].endswith("/admin/apikeys/apikey/add/")
    assert not KEY_RE.search(response.content.decode())  # no secret of a key that was not created
