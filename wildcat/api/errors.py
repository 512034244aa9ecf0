"""The one place errors become the API's shape: {"error": {"code", "message", "details"}}.

Application code raises ``wildcat.errors.AppError``. Django and DRF raise their own exceptions
(a 404, a serializer's field errors, a throttle, a parse error); ``as_app_error`` translates each
of them into an ``AppError`` here, so every error leaves through ``error_body``.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from django.conf import settings
from django.core.exceptions import (
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError
from django.http import Http404, HttpRequest, JsonResponse
from django.urls import is_valid_path
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from wildcat.errors import INVALID_REQUEST_MESSAGE, NOT_FOUND_MESSAGE, AppError, ErrorCode, not_found

logger = logging.getLogger("wildcat.api")

SERVER_ERROR_MESSAGE = "Internal server error."
SERVICE_UNAVAILABLE_RETRY_AFTER = 5  # seconds; Redis or the database coming back takes about that long
NOT_AUTHENTICATED_MESSAGE = (
    "A valid API key is required: send the header Authorization: Bearer <key> or X-API-Key: <key>."
)
FORBIDDEN_MESSAGE = "You do not have permission to perform this action."

# The exceptions DRF raises by itself (method, media type, negotiation, throttling), by status.
_DRF_CODES = {
    400: ErrorCode.INVALID_REQUEST,
    401: ErrorCode.NOT_AUTHENTICATED,
    403: ErrorCode.PERMISSION_DENIED,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    406: ErrorCode.NOT_ACCEPTABLE,
    409: ErrorCode.CONFLICT,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    429: ErrorCode.THROTTLED,
    503: ErrorCode.SERVICE_UNAVAILABLE,
}


def error_body(code: ErrorCode | str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": str(code), "message": message, "details": details if details is not None else {}}}


def error_response(error: AppError) -> JsonResponse:
    """The error as a plain Django response, for middleware and views outside DRF."""
    return JsonResponse(error_body(error.code, error.message, error.details), status=error.http_status)


def not_found_error(path: str) -> AppError:
    """A 404. API paths have no trailing slash: when the path without it exists, the message names it."""
    stripped = path.rstrip("/")
    if path.endswith("/") and stripped.startswith("/api/") and is_valid_path(stripped):
        return AppError(ErrorCode.NOT_FOUND, f"Not found. API paths have no trailing slash: use {stripped}")
    return not_found()


def _validation_details(detail: Any) -> dict[str, Any]:
    if isinstance(detail, dict):
        return detail
    return {"non_field_errors": detail if isinstance(detail, list) else [detail]}


def _from_django(exc: Exception) -> AppError | None:
    if isinstance(exc, Http404):
        return not_found()
    if isinstance(exc, PermissionDenied):
        return AppError(ErrorCode.PERMISSION_DENIED, FORBIDDEN_MESSAGE)
    if isinstance(exc, RequestDataTooBig):
        return AppError(ErrorCode.PAYLOAD_TOO_LARGE, "The request body is too large.")
    if isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        return AppError(ErrorCode.MALFORMED_BODY, f"The request has too many fields or files (at most {limit} fields).")
    if isinstance(exc, SuspiciousOperation):  # a malformed request is the caller's error, not a 500
        return AppError(ErrorCode.MALFORMED_BODY, "The request is malformed.")
    if isinstance(exc, DjangoValidationError):
        details = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return AppError(ErrorCode.INVALID_REQUEST, INVALID_REQUEST_MESSAGE, details)
    if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError | DatabaseError):
        logger.warning("dependency unavailable: %s", type(exc).__name__)
        message = "A service Wildcat depends on is unavailable; try again shortly."
        return AppError(ErrorCode.SERVICE_UNAVAILABLE, message)
    return None


def _from_drf(exc: exceptions.APIException) -> AppError:
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        return AppError(ErrorCode.NOT_AUTHENTICATED, NOT_AUTHENTICATED_MESSAGE)
    if isinstance(exc, exceptions.ValidationError):
        return AppError(ErrorCode.INVALID_REQUEST, INVALID_REQUEST_MESSAGE, _validation_details(exc.detail))
    if isinstance(exc, exceptions.ParseError):
        return AppError(ErrorCode.MALFORMED_BODY, str(exc.detail))
    if isinstance(exc, exceptions.Throttled):
        details = {"retry_after": exc.wait and int(exc.wait + 0.999)}
        return AppError(ErrorCode.THROTTLED, "Too many requests for this API key.", details)
    code = _DRF_CODES.get(exc.status_code, ErrorCode.SERVER_ERROR)
    if isinstance(exc.detail, dict | list):
        return AppError(code, INVALID_REQUEST_MESSAGE, _validation_details(exc.detail), http_status=exc.status_code)
    message = NOT_FOUND_MESSAGE if code == ErrorCode.NOT_FOUND else str(exc.detail)
    return AppError(code, message, http_status=exc.status_code)


def as_app_error(exc: Exception) -> AppError | None:
    """Any exception the API knows how to describe, as an AppError; None for a bug (a 500)."""
    if isinstance(exc, AppError):
        return exc
    if isinstance(exc, exceptions.APIException):
        return _from_drf(exc)
    return _from_django(exc)


def api_exception_handler(exc: Exception, context: dict) -> Response:
    """DRF exception handler: every error, expected or not, leaves in the one shape."""
    error = as_app_error(exc)
    if error is None:
        logger.exception("unhandled error in API view", exc_info=exc)
        return Response(error_body(ErrorCode.SERVER_ERROR, SERVER_ERROR_MESSAGE), status=500)
    # DRF's own handler adds the headers its exceptions carry (Retry-After, WWW-Authenticate).
    headers = drf_exception_handler(exc, context) if isinstance(exc, exceptions.APIException) else None
    set_rollback()
    response = Response(error_body(error.code, error.message, error.details), status=error.http_status)
    if headers is not None and "Retry-After" in headers:
        response["Retry-After"] = headers["Retry-After"]
    elif error.code == ErrorCode.THROTTLED and error.details.get("retry_after"):
        response["Retry-After"] = str(error.details["retry_after"])
    if error.code == ErrorCode.NOT_AUTHENTICATED:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    if response.status_code == 503 and not response.has_header("Retry-After"):
        # A dependency is down for a moment: say when trying again makes sense.
        response["Retry-After"] = str(SERVICE_UNAVAILABLE_RETRY_AFTER)
    return response


def json_404(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return error_response(not_found_error(request.path))


def json_500(request: HttpRequest) -> JsonResponse:
    return error_response(AppError(ErrorCode.SERVER_ERROR, SERVER_ERROR_MESSAGE))


def json_403(request: HttpRequest) -> JsonResponse:
    return error_response(AppError(ErrorCode.PERMISSION_DENIED, FORBIDDEN_MESSAGE))
