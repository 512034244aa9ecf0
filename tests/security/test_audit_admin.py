"""The audit log itself: admin sign-ins are recorded, and the admin shows entries read-only."""

from __future__ import annotations

import pytest
from django.test import Client

from wildcat.audit import audit_record
from wildcat.models import AuditEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_superuser("operator", "op@example.com", "a-long-admin-password-1")


def test_admin_login_is_recorded_with_the_peer_ip(operator):
    client = Client(REMOTE_ADDR="203.0.113.7")
    response = client.post("/admin/login/", {"username": "operator", "password": "a-long-admin-password-1"})
    assert response.status_code == 302
    entry = AuditEntry.objects.get(action="admin.login")
    assert entry.actor_user_id == operator.pk
    assert entry.ip == "203.0.113.7"
    assert entry.detail == {"username": "operator"}


def test_failed_admin_login_is_recorded_without_the_password(operator):
    client = Client(REMOTE_ADDR="198.51.100.9", HTTP_X_FORWARDED_FOR="10.9.9.9")
    response = client.post("/admin/login/", {"username": "operator", "password": "wrong-guess"})
    assert response.status_code == 200  # the form again
    entry = AuditEntry.objects.get(action="admin.login_failed")
    assert entry.ip == "198.51.100.9"  # the peer, never the caller-supplied header
    assert entry.detail == {"username": "operator"}
    assert "wrong-guess" not in str(entry.detail)
    assert not AuditEntry.objects.filter(action="admin.login").exists()


def test_unknown_actions_are_refused():
    with pytest.raises(ValueError, match="unknown audit action"):
        audit_record(action="key.made")
    assert AuditEntry.objects.count() == 0


def test_admin_lists_entries_but_cannot_add_change_or_delete(operator, api_key):
    entry = audit_record(action="apikey.revoked", actor_key_id=api_key.pk, target_type="apikey", target_id=api_key.pk)
    client = Client()
    client.force_login(operator)
    listing = client.get("/admin/wildcat/auditentry/")
    assert listing.status_code == 200
    assert b"API key revoked" in listing.content
    assert api_key.label.encode() in listing.content  # the actor by its label, not only its id
    assert client.get("/admin/wildcat/auditentry/add/").status_code == 403
    detail_url = f"/admin/wildcat/auditentry/{entry.pk}/change/"
    assert client.get(detail_url).status_code == 200  # viewable
    client.post(detail_url, {"action": "admin.login", "target_id": "forged"})
    entry.refresh_from_db()
    assert (entry.action, entry.target_id) == ("apikey.revoked", str(api_key.pk))
    assert client.post(f"/admin/wildcat/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEntry.objects.filter(pk=entry.pk).exists()
