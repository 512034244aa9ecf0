"""WhatsApp connections, their timeline, durable session commands, and the sandbox phone's shared store."""

from __future__ import annotations

from django.db import models


class WaConnection(models.Model):
    """One linked WhatsApp number (or one waiting to be linked), owned by an API key."""

    class Driver(models.TextChoices):
        NEONIZE = "neonize", "WhatsApp (neonize)"
        SANDBOX = "sandbox", "Sandbox (simulated phone)"

    class Status(models.TextChoices):
        NOT_STARTED = "not_started", "Not started"
        PENDING = "pending", "Pending (QR shown)"
        AUTHENTICATED = "authenticated", "Authenticated"
        READY = "ready", "Ready"
        AUTH_FAILED = "auth_failed", "Authentication failed"
        DISCONNECTED = "disconnected", "Disconnected"
        LOGGED_OUT = "logged_out", "Logged out"

    class DesiredState(models.TextChoices):
        RUNNING = "running", "Running"
        STOPPED = "stopped", "Stopped"

    class Presence(models.TextChoices):
        AVAILABLE = "available", "Available (online: the phone gets no notifications)"
        UNAVAILABLE = "unavailable", "Unavailable (the phone keeps its notifications)"

    api_key = models.ForeignKey("apikeys.ApiKey", on_delete=models.CASCADE, related_name="connections")
    name = models.CharField(max_length=100)
    driver = models.CharField(max_length=16, choices=Driver.choices, default=Driver.SANDBOX)

    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NOT_STARTED, db_index=True)
    connection_step = models.CharField(max_length=64, blank=True, default="")

    last_qr = models.TextField(blank=True, default="")
    last_qr_at = models.DateTimeField(null=True, blank=True)
    qr_expires_at = models.DateTimeField(null=True, blank=True)
    pair_code = models.CharField(max_length=16, blank=True, default="")
    pair_code_at = models.DateTimeField(null=True, blank=True)

    authenticated_at = models.DateTimeField(null=True, blank=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    auth_failed_at = models.DateTimeField(null=True, blank=True)
    disconnected_at = models.DateTimeField(null=True, blank=True)
    logged_out_at = models.DateTimeField(null=True, blank=True)

    error = models.TextField(blank=True, default="")
    disconnect_reason = models.CharField(max_length=200, blank=True, default="")

    phone_number = models.CharField(max_length=32, blank=True, default="")
    whatsapp_id = models.CharField(max_length=128, blank=True, default="")
    profile_name = models.CharField(max_length=200, blank=True, default="")
    platform = models.CharField(max_length=64, blank=True, default="")
    profile_picture_url = models.URLField(max_length=1000, blank=True, default="")
    status_message = models.CharField(max_length=500, blank=True, default="")
    last_seen = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(null=True, blank=True)

    # Runtime: what the operator wants, and who holds the session right now (a lease with a TTL).
    desired_state = models.CharField(
        max_length=16, choices=DesiredState.choices, default=DesiredState.STOPPED, db_index=True
    )
    lease_owner = models.CharField(max_length=200, blank=True, default="", db_index=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    lease_heartbeat_at = models.DateTimeField(null=True, blank=True)
    # A disconnected session that must wait (a temporary ban) is restarted by the watchdog at this time.
    retry_at = models.DateTimeField(
        null=True, blank=True, help_text="When a disconnected session is restarted (the end of a temporary ban)."
    )
    presence = models.CharField(
        max_length=16,
        choices=Presence.choices,
        default=Presence.UNAVAILABLE,
        help_text="What the session tells WhatsApp once connected. Available marks the account online, "
        "which stops notifications on the phone; delivery receipts (two grey ticks) work either way.",
    )
    send_rate_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="Messages per minute for this connection; empty uses the default pacing."
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "connection"
        constraints = [
            models.UniqueConstraint(fields=["api_key", "name"], name="connection_name_unique_per_key"),
        ]
        indexes = [models.Index(fields=["api_key", "-created_at"], name="connection_key_created")]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_status_display()})"


class ConnectionEvent(models.Model):
    """The timeline: one row per QR issued, state change, error, disconnect, restart and owner change."""

    class Kind(models.TextChoices):
        QR = "qr", "QR issued"
        PAIR_CODE = "pair_code", "Pairing code issued"
        STATE = "state", "State change"
        ERROR = "error", "Error"
        DISCONNECT = "disconnect", "Disconnected"
        RESTART = "restart", "Restart"
        OWNER = "owner", "Owner change"
        CRASH = "crash", "Session host crash"
        COMMAND = "command", "Command"

    connection = models.ForeignKey(WaConnection, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    from_status = models.CharField(max_length=20, blank=True, default="")
    to_status = models.CharField(max_length=20, blank=True, default="")
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["connection", "-created_at"], name="connevent_conn_created")]

    def __str__(self) -> str:
        return f"{self.connection_id} {self.kind} {self.created_at:%Y-%m-%d %H:%M:%S}"


class SessionCommand(models.Model):
    """A durable instruction for whichever worker owns the session (logout, pairing code, calls)."""

    class Kind(models.TextChoices):
        LOGOUT = "logout", "Log out"
        PAIR_CODE = "pair_code", "Request pairing code"
        RESTART = "restart", "Restart"
        CALL = "call", "Session call"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    connection = models.ForeignKey(WaConnection, on_delete=models.CASCADE, related_name="commands")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    payload = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["connection", "status", "id"], name="sessioncmd_conn_status")]


class SandboxCredential(models.Model):
    """The sandbox phone's "paired device" store, shared by every worker like whatsmeow's session store."""

    connection = models.OneToOneField(WaConnection, on_delete=models.CASCADE, related_name="sandbox_credential")
    whatsapp_id = models.CharField(max_length=128)
    phone_number = models.CharField(max_length=32)
    profile_name = models.CharField(max_length=200, blank=True, default="")
    platform = models.CharField(max_length=64, blank=True, default="")
    device_key = models.CharField(max_length=64, help_text="Random key standing in for the device's identity key.")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.connection_id} {self.whatsapp_id}"


class SandboxDelivery(models.Model):
    """What a sandbox recipient saw: one row per WhatsApp message id, so a retried send never shows twice."""

    connection = models.ForeignKey(WaConnection, on_delete=models.CASCADE, related_name="sandbox_deliveries")
    wa_message_id = models.CharField(max_length=128)
    chat_jid = models.CharField(max_length=128)
    type = models.CharField(max_length=16)
    text = models.TextField(blank=True, default="")
    content = models.JSONField(default=dict, blank=True)
    media_size = models.PositiveIntegerField(default=0)
    edited_text = models.TextField(blank=True, default="")
    revoked = models.BooleanField(default=False)
    read = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "wa_message_id"], name="sandbox_delivery_unique_id"),
        ]

    def __str__(self) -> str:
        return f"{self.connection_id} {self.wa_message_id}"
