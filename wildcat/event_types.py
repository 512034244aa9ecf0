"""The webhook event types: the one list of the strings every app emits and every endpoint subscribes to."""

from __future__ import annotations

import enum


class EventType(enum.StrEnum):
    MESSAGE_RECEIVED = "message.received"
    MESSAGE_SENT = "message.sent"
    MESSAGE_DELIVERED = "message.delivered"
    MESSAGE_READ = "message.read"
    MESSAGE_FAILED = "message.failed"
    MESSAGE_UPDATED = "message.updated"
    CONNECTION_QR = "connection.qr"
    CONNECTION_AUTHENTICATED = "connection.authenticated"
    CONNECTION_READY = "connection.ready"
    CONNECTION_DISCONNECTED = "connection.disconnected"
    CONNECTION_LOGGED_OUT = "connection.logged_out"
    CONNECTION_AUTH_FAILED = "connection.auth_failed"
    WEBHOOK_TEST = "webhook.test"


EVENT_TYPE_VALUES: list[str] = [member.value for member in EventType]
ALL_TYPES: frozenset[str] = frozenset(EVENT_TYPE_VALUES)
