"""Plumbing models: the audit log (who did what, and when) and the worker nodes that report themselves alive."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class AuditEntry(models.Model):
    """One security-relevant action. Rows are only ever inserted; the admin shows them read-only.

    Actors and targets are stored as plain ids, not foreign keys, so an entry outlives whatever it
    talks about (a deleted connection or webhook still has its history).
    """

    class Action(models.TextChoices):
        APIKEY_CREATED = "apikey.created", "API key created"
        APIKEY_REVOKED = "apikey.revoked", "API key revoked"
        APIKEY_NEW_IP = "apikey.new_ip", "API key used from a new IP"
        CONNECTION_CREATED = "connection.created", "Connection created"
        CONNECTION_DELETED = "connection.deleted", "Connection deleted"
        CONNECTION_LOGOUT = "connection.logout", "Connection logout requested"
        CONNECTION_LOGGED_OUT = "connection.logged_out", "Connection logged out"
        WEBHOOK_CREATED = "webhook.created", "Webhook created"
        WEBHOOK_DELETED = "webhook.deleted", "Webhook deleted"
        WEBHOOK_SECRET_ROTATED = "webhook.secret_rotated", "Webhook secret rotated"
        ADMIN_LOGIN = "admin.login", "Admin login"
        ADMIN_LOGIN_FAILED = "admin.login_failed", "Admin login failed"

    created_at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)
    action = models.CharField(max_length=64, choices=Action.choices, db_index=True, editable=False)
    actor_key_id = models.BigIntegerField(null=True, blank=True, db_index=True, editable=False)
    actor_user_id = models.BigIntegerField(null=True, blank=True, db_index=True, editable=False)
    target_type = models.CharField(max_length=64, blank=True, editable=False)
    target_id = models.CharField(max_length=64, blank=True, editable=False)
    ip = models.GenericIPAddressField(null=True, blank=True, editable=False)
    detail = models.JSONField(default=dict, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "audit entry"
        verbose_name_plural = "audit log"
        indexes = [models.Index(fields=["target_type", "target_id"], name="wildcat_audit_target")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.action} {self.target_type}:{self.target_id}"


class WorkerNode(models.Model):
    """A Celery worker process that reports itself alive; session workers also report their load."""

    name = models.CharField(max_length=200, unique=True)
    hostname = models.CharField(max_length=200)
    pid = models.IntegerField()
    queues = models.CharField(max_length=200, blank=True)
    session_count = models.IntegerField(default=0)
    started_at = models.DateTimeField(auto_now_add=True)
    last_heartbeat = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
