"""The one error shape of the API: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import logging
from typing import Any

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
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger("wildcat.api")


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


SERVICE_UNAVAILABLE_RETRY_AFTER = 5  # seconds; Redis or the database coming back takes about that long


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "A service Wildcat depends on is unavailable; try again shortly."
    default_code = "service_unavailable"


class LimitExceeded(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "A limit was reached."
    default_code = "limit_exceeded"


_CODES_BY_STATUS = {
    400: "invalid_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "throttled",
    500: "server_error",
    503: "service_unavailable",
}
_MESSAGES_BY_STATUS = {
    401: "A valid API key is required.",
    404: "Not found.",
    500: "Internal server error.",
}


def error_body(status_code: int, message: str, *, code: str | None = None, details: Any = None) -> dict:
    return {
        "error": {
            "code": code or _CODES_BY_STATUS.get(status_code, "error"),
            "message": message,
            "details": details if details is not None else {},
        }
    }


def error_response(status_code: int, message: str, *, code: str | None = None, details: Any = None) -> JsonResponse:
    return JsonResponse(error_body(status_code, message, code=code, details=details), status=status_code)


def _is_redis_error(exc: Exception) -> bool:
    try:
        import redis
    except ImportError:  # pragma: no cover - redis is a requirement
        return False
    return isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError)


def _translate(exc: Exception) -> exceptions.APIException | None:
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, PermissionDenied):
        return exceptions.PermissionDenied()
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge()
    if isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        return exceptions.ParseError(f"The request has too many fields or files (at most {limit} fields).")
    if isinstance(exc, SuspiciousOperation):  # a malformed request is the caller's error, not a 500
        return exceptions.ParseError("The request is malformed.")
    if isinstance(exc, DjangoValidationError):
        return exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    if _is_redis_error(exc) or isinstance(exc, DatabaseError):
        logger.warning("dependency unavailable: %s", type(exc).__name__)
        return ServiceUnavailable()
    return None


def _message_and_details(exc: exceptions.APIException) -> tuple[str, Any]:
    detail = exc.detail
    if isinstance(exc, exceptions.ValidationError):
        if isinstance(detail, dict):
            return "The request is invalid.", detail
        if isinstance(detail, list):
            return "The request is invalid.", {"non_field_errors": detail}
    if isinstance(detail, dict | list):
        return "The request is invalid.", detail
    status_code = exc.status_code
    return _MESSAGES_BY_STATUS.get(status_code, str(detail)), {}


def api_exception_handler(exc: Exception, context: dict) -> Response:
    """DRF exception handler: every error, expected or not, leaves in the one shape."""
    translated = _translate(exc)
    if translated is not None:
        exc = translated
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        response = Response(error_body(401, _MESSAGES_BY_STATUS[401]), status=401)
        response["WWW-Authenticate"] = 'Bearer realm="api"'
        return response
    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("unhandled error in API view", exc_info=exc)
        return Response(error_body(500, _MESSAGES_BY_STATUS[500]), status=500)
    message, details = _message_and_details(exc)  # type: ignore[arg-type]
    code = getattr(exc, "default_code", None) if not isinstance(exc, exceptions.ValidationError) else None
    if isinstance(exc, exceptions.Throttled):
        details = {"retry_after": exc.wait and int(exc.wait + 0.999)}
        message = "Too many requests for this API key."
    code = code if code and code not in {"error", "invalid", "parse_error"} else None
    if isinstance(exc, exceptions.ParseError):
        code = "malformed_body"
    response.data = error_body(response.status_code, message, code=code, details=details)
    if response.status_code == 503 and not response.has_header("Retry-After"):
        # A dependency is down for a moment: say when trying again makes sense.
        response["Retry-After"] = str(SERVICE_UNAVAILABLE_RETRY_AFTER)
    return response


def json_404(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return error_response(404, _MESSAGES_BY_STATUS[404])


def json_500(request: HttpRequest) -> JsonResponse:
    return error_response(500, _MESSAGES_BY_STATUS[500])
