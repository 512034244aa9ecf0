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
    TOO_MANY_ATTEMPTS = "too_many_attempts"
    CANCELLED = "cancelled"

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


MESSAGE_FAILURE_CODES: frozenset[ErrorCode] = frozenset({ErrorCode.TOO_MANY_ATTEMPTS, ErrorCode.CANCELLED})


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
