"""The one application error type, ``AppError``, and the one list of error codes, ``ErrorCode``.

Services, selectors and views raise ``AppError(ErrorCode.X, "what happened and what to do next")``
for anything the caller can act on; ``wildcat.api.errors`` turns it into the API's error shape and
the admin shows its message. A bug in the code itself (an impossible argument from our own caller)
stays a ``ValueError`` or ``TypeError``: it is a 500, not something a user can fix.
"""

from __future__ import annotations

import enum
from typing import Any


class ErrorCode(enum.StrEnum):
    # Any request.
    INVALID_REQUEST = "invalid_request"
    MALFORMED_BODY = "malformed_body"
    LIMIT_EXCEEDED = "limit_exceeded"
    NOT_AUTHENTICATED = "not_authenticated"
    PERMISSION_DENIED = "permission_denied"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    NOT_ACCEPTABLE = "not_acceptable"
    CONFLICT = "conflict"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    THROTTLED = "throttled"
    SERVER_ERROR = "server_error"
    SERVICE_UNAVAILABLE = "service_unavailable"
    # Connections and their sessions.
    INVALID_STATE = "invalid_state"
    NAME_TAKEN = "name_taken"
    NO_QR = "no_qr"
    INVALID_PHONE_NUMBER = "invalid_phone_number"
    CONNECTION_NOT_READY = "connection_not_ready"
    SESSION_TIMEOUT = "session_timeout"
    SESSION_ERROR = "session_error"
    # Messages.
    INVALID_RECIPIENT = "invalid_recipient"
    MEDIA_TOO_LARGE = "media_too_large"
    MEDIA_TYPE_MISMATCH = "media_type_mismatch"
    MEDIA_UNREADABLE = "media_unreadable"
    MEDIA_URL_REFUSED = "media_url_refused"
    MEDIA_FETCH_FAILED = "media_fetch_failed"
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    NOT_EDITABLE = "message_not_editable"
    NOT_REVOCABLE = "message_not_revocable"
    # Why a message ended failed (stored on the message, never raised as an API error: no HTTP status).
    # A failed message may also carry invalid_recipient or server_error (shared with the API), and a
    # driver's code for input it refused (invalid_location, for example): see MESSAGE_FAILURE_MEANINGS.
    TOO_MANY_ATTEMPTS = "too_many_attempts"
    CANCELLED = "cancelled"
    NOT_ON_WHATSAPP = "not_on_whatsapp"
    SEND_OUTCOME_UNKNOWN = "send_outcome_unknown"
    GROUP_NOT_FOUND = "group_not_found"
    FORBIDDEN = "forbidden"
    LOGGED_OUT = "logged_out"
    NOT_LOGGED_IN = "not_logged_in"
    MEDIA_MISSING = "media_missing"
    TIMEOUT = "timeout"
    NOT_CONNECTED = "not_connected"
    RATE_LIMITED = "rate_limited"
    SEND_FAILED = "send_failed"
    UPLOAD_FAILED = "upload_failed"
    KEY_REVOKED = "key_revoked"
    RETENTION_EXPIRED = "retention_expired"

    @property
    def http_status(self) -> int:
        """The status the API answers with this code."""
        return HTTP_STATUS.get(self, 500)


HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.INVALID_REQUEST: 400,
    ErrorCode.MALFORMED_BODY: 400,
    ErrorCode.LIMIT_EXCEEDED: 400,
    ErrorCode.NOT_AUTHENTICATED: 401,
    ErrorCode.PERMISSION_DENIED: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.NOT_ACCEPTABLE: 406,
    ErrorCode.CONFLICT: 409,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.THROTTLED: 429,
    ErrorCode.SERVER_ERROR: 500,
    ErrorCode.SERVICE_UNAVAILABLE: 503,
    ErrorCode.INVALID_STATE: 409,
    ErrorCode.NAME_TAKEN: 409,
    ErrorCode.NO_QR: 409,
    ErrorCode.INVALID_PHONE_NUMBER: 400,
    ErrorCode.CONNECTION_NOT_READY: 409,
    ErrorCode.SESSION_TIMEOUT: 504,
    # WhatsApp (the gateway's upstream) refused: a bad gateway. A connection command the session
    # refused is answered 409 instead (see AppError's http_status).
    ErrorCode.SESSION_ERROR: 502,
    ErrorCode.INVALID_RECIPIENT: 400,
    ErrorCode.MEDIA_TOO_LARGE: 413,
    ErrorCode.MEDIA_TYPE_MISMATCH: 400,
    ErrorCode.MEDIA_UNREADABLE: 400,
    ErrorCode.MEDIA_URL_REFUSED: 400,
    ErrorCode.MEDIA_FETCH_FAILED: 400,
    ErrorCode.IDEMPOTENCY_CONFLICT: 409,
    ErrorCode.NOT_EDITABLE: 409,
    ErrorCode.NOT_REVOCABLE: 409,
}


# The published reasons a message ends ``failed`` (its ``error.code``), with what each means.
MESSAGE_FAILURE_MEANINGS: dict[ErrorCode, str] = {
    ErrorCode.NOT_ON_WHATSAPP: "the number has no WhatsApp account; only this message fails",
    ErrorCode.SEND_OUTCOME_UNKNOWN: (
        "WhatsApp did not confirm the send after the message went out, or the session stopped while it "
        "was being sent; it may have been delivered, so it is never resent automatically (retry on "
        "purpose with a new Idempotency-Key). The message never learns the id WhatsApp gave it, so a "
        "later delivery receipt cannot find it: it stays failed"
    ),
    ErrorCode.INVALID_RECIPIENT: "the chat id cannot receive messages",
    ErrorCode.GROUP_NOT_FOUND: "the group does not exist",
    ErrorCode.FORBIDDEN: (
        "this account may not send there (not a group participant, or WhatsApp's lock on first "
        "messages to new contacts, which lasts days)"
    ),
    ErrorCode.LOGGED_OUT: "the connection is logged out",
    ErrorCode.NOT_LOGGED_IN: "the connection is not linked to a phone",
    ErrorCode.MEDIA_MISSING: "the stored media could not be read",
    ErrorCode.CANCELLED: "the message was cancelled before it was sent",
    ErrorCode.TOO_MANY_ATTEMPTS: "every attempt failed",
    ErrorCode.TIMEOUT: "a request timed out before the message went out (retried)",
    ErrorCode.NOT_CONNECTED: "the session was not connected (retried)",
    ErrorCode.RATE_LIMITED: "WhatsApp asked to slow down (retried)",
    ErrorCode.SERVER_ERROR: "WhatsApp's server failed (retried)",
    ErrorCode.SEND_FAILED: "another transient failure (retried)",
    ErrorCode.UPLOAD_FAILED: "the media upload failed (retried)",
    ErrorCode.KEY_REVOKED: "the API key was revoked before the message was sent",
    ErrorCode.RETENTION_EXPIRED: "not sent within the retention period; deleted by retention",
}
# The codes that only ever describe a failed message (the API never answers with them).
MESSAGE_FAILURE_CODES: frozenset[ErrorCode] = frozenset(
    {
        ErrorCode.TOO_MANY_ATTEMPTS,
        ErrorCode.CANCELLED,
        ErrorCode.NOT_ON_WHATSAPP,
        ErrorCode.SEND_OUTCOME_UNKNOWN,
        ErrorCode.GROUP_NOT_FOUND,
        ErrorCode.FORBIDDEN,
        ErrorCode.LOGGED_OUT,
        ErrorCode.NOT_LOGGED_IN,
        ErrorCode.MEDIA_MISSING,
        ErrorCode.TIMEOUT,
        ErrorCode.NOT_CONNECTED,
        ErrorCode.RATE_LIMITED,
        ErrorCode.SEND_FAILED,
        ErrorCode.UPLOAD_FAILED,
        ErrorCode.KEY_REVOKED,
        ErrorCode.RETENTION_EXPIRED,
    }
)


def message_failure_codes_text() -> str:
    """The published failure codes and their meanings, one per line, for schemas and the admin."""
    return "\n".join(f"- `{code}`: {meaning}" for code, meaning in MESSAGE_FAILURE_MEANINGS.items())


class AppError(Exception):
    """An error the caller can act on: a code from ``ErrorCode``, a message that says what to do, details.

    The HTTP status comes from the code. ``http_status`` overrides it only where the same code has
    a documented different status (a refused connection command is a 409 ``session_error``).
    """

    def __init__(
        self, code: ErrorCode, message: str, details: dict[str, Any] | None = None, *, http_status: int | None = None
    ) -> None:
        super().__init__(message)
        self.code = ErrorCode(code)
        self.message = message
        self.details: dict[str, Any] = details if details is not None else {}
        self.http_status = http_status or self.code.http_status

    def describe(self) -> str:
        """For a person reading it in the admin or a terminal: the field errors themselves, else the message."""
        if self.code == ErrorCode.INVALID_REQUEST and self.details:
            problems = [problem for value in self.details.values() for problem in _as_list(value)]
            return " ".join(str(problem) for problem in problems)
        return self.message

    def __repr__(self) -> str:
        return f"AppError({self.code.value!r}, {self.message!r})"


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


INVALID_REQUEST_MESSAGE = "The request is invalid."


def invalid_request(details: dict[str, Any]) -> AppError:
    """A 400 with field errors, in the shape a serializer's errors take: ``{"field": ["what is wrong"]}``."""
    return AppError(ErrorCode.INVALID_REQUEST, INVALID_REQUEST_MESSAGE, details)


NOT_FOUND_MESSAGE = "Not found."


def not_found() -> AppError:
    """A 404 that says no more: a missing id and another key's id must look the same."""
    return AppError(ErrorCode.NOT_FOUND, NOT_FOUND_MESSAGE)
