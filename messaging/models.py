"""Messages (sent and received) and their media files."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from wildcat.whatsapp import MessageType


def media_upload_to(instance: Media, filename: str) -> str:
    # Content-addressed folders keep directories small; the random suffix keeps names unique.
    return f"media/{instance.sha256[:2]}/{instance.sha256[2:4]}/{filename}"


class Media(models.Model):
    """One stored file (sent or received) in Django's storage API, owned by an API key."""

    api_key = models.ForeignKey("apikeys.ApiKey", on_delete=models.CASCADE, related_name="media")
    file = models.FileField(upload_to=media_upload_to, max_length=300)
    mimetype = models.CharField(max_length=127)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)
    filename = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "media"

    def __str__(self) -> str:
        return f"{self.filename or self.sha256[:12]} ({self.mimetype}, {self.size} bytes)"


class Message(models.Model):
    """A WhatsApp message: an outbound send moving through the outbox, or an inbound one received."""

    class Direction(models.TextChoices):
        INBOUND = "inbound", "Inbound"
        OUTBOUND = "outbound", "Outbound"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        READ = "read", "Read"
        FAILED = "failed", "Failed"

    Type = models.TextChoices("Type", [(t.name, t.value) for t in MessageType])

    # Every index is paid on every send's INSERT. The connection column leads the composite indexes
    # below, which serve its lookups and cascades. The key column has no index: every query of
    # messages by key also names the connection, and keys are revoked, not deleted.
    # The key is always the connection's key (a connection never changes hands), so the database
    # checks only the connection reference: a message can outlive neither its connection nor, through
    # it, its key. A constraint on the key column too would lock the key's row on every send, and one
    # key sending through many connections at once would queue on that single row.
    api_key = models.ForeignKey(
        "apikeys.ApiKey", on_delete=models.CASCADE, related_name="messages", db_index=False, db_constraint=False
    )
    connection = models.ForeignKey(
        "accounts.WaConnection", on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    direction = models.CharField(max_length=8, choices=Direction.choices)
    from_me = models.BooleanField(default=False)
    wa_message_id = models.CharField(max_length=128)
    chat_jid = models.CharField(max_length=128)
    sender_jid = models.CharField(max_length=128, blank=True, default="")
    push_name = models.CharField(max_length=200, blank=True, default="")

    type = models.CharField(max_length=16, choices=Type.choices)
    text = models.TextField(blank=True, default="")
    # Type-specific fields (location, contact, poll, reaction target, audio voice_note flag).
    content = models.JSONField(default=dict, blank=True)
    media = models.ForeignKey(
        Media, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages", db_index=False
    )
    quoted = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replies", db_index=False
    )
    quoted_wa_message_id = models.CharField(max_length=128, blank=True, default="")
    # Reactions others put on this message: {sender_jid: emoji}.
    reactions = models.JSONField(default=dict, blank=True)

    status = models.CharField(max_length=16, choices=Status.choices)
    error_code = models.CharField(max_length=64, blank=True, default="")
    error = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    request_hash = models.CharField(max_length=64, blank=True, default="")
    first_response = models.JSONField(null=True, blank=True)

    timestamp = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    raw = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "wa_message_id"], name="message_wa_id_unique"),
            models.UniqueConstraint(
                fields=["connection", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="message_idempotency_unique",
            ),
        ]
        indexes = [
            # The outbox scan: a connection's unfinished sends in creation order.
            models.Index(
                fields=["connection", "id"],
                condition=Q(status__in=["queued", "sending"]),
                name="message_outbox",
            ),
            # Time ranges over all messages: retention, the dashboard, the admin's default order.
            models.Index(fields=["-created_at", "-id"], name="message_created"),
            models.Index(fields=["connection", "-created_at", "-id"], name="message_conn_created"),
            models.Index(fields=["connection", "chat_jid", "-id"], name="message_conn_chat"),
            # Most messages have no media and quote nothing: only the rows that do are indexed.
            models.Index(fields=["media"], condition=Q(media__isnull=False), name="message_media"),
            models.Index(fields=["quoted"], condition=Q(quoted__isnull=False), name="message_quoted"),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.type} {self.wa_message_id} ({self.status})"


class InboundDeadLetter(models.Model):
    """An inbound message that could not be stored, kept whole so that an operator can store it later."""

    class Status(models.TextChoices):
        PENDING = "pending", "Not stored"
        STORED = "stored", "Stored"

    connection = models.ForeignKey("accounts.WaConnection", on_delete=models.CASCADE, related_name="dead_letters")
    wa_message_id = models.CharField(max_length=128, blank=True, default="")
    # JSON text, not a JSON column: PostgreSQL's jsonb refuses the NUL characters a payload may carry.
    payload = models.TextField(help_text="The message as the session reported it (JSON; media bytes in base64).")
    error = models.TextField(blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=1)
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "-id"], name="dead_letter_status")]

    def __str__(self) -> str:
        return f"inbound {self.wa_message_id or self.pk} ({self.status})"


STATUS_RANK = {
    Message.Status.QUEUED: 0,
    Message.Status.SENDING: 1,
    Message.Status.FAILED: 1,  # a receipt proves the message arrived after all
    Message.Status.SENT: 2,
    Message.Status.DELIVERED: 3,
    Message.Status.READ: 4,
}
