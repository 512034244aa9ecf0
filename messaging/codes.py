"""Error codes and webhook event names the messaging app produces."""

from __future__ import annotations

import enum

from rest_framework.exceptions import APIException


class ErrorCode(enum.StrEnum):
    CONNECTION_NOT_READY = "connection_not_ready"
    INVALID_RECIPIENT = "invalid_recipient"
    MEDIA_TOO_LARGE = "media_too_large"
    MEDIA_TYPE_MISMATCH = "media_type_mismatch"
    MEDIA_UNREADABLE = "media_unreadable"
    MEDIA_URL_REFUSED = "media_url_refused"
    MEDIA_FETCH_FAILED = "media_fetch_failed"
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    SESSION_TIMEOUT = "session_timeout"
    SESSION_ERROR = "session_error"
    NOT_EDITABLE = "message_not_editable"
    NOT_REVOCABLE = "message_not_revocable"
    TOO_MANY_ATTEMPTS = "too_many_attempts"


class EventType(enum.StrEnum):
    RECEIVED = "message.received"
    UPDATED = "message.updated"
    SENT = "message.sent"
    DELIVERED = "message.delivered"
    READ = "message.read"
    FAILED = "message.failed"


def api_error(status_code: int, code: str, message: str) -> APIException:
    """An API error with its own code in the one error shape (the handler reads ``default_code``)."""
    exc = APIException(message)
    exc.status_code = status_code
    exc.default_code = code
    return exc
