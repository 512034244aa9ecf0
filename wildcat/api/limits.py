"""Request-size limits applied before a view reads the body."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from wildcat.api.errors import error_response
from wildcat.errors import AppError, ErrorCode


def body_limit_for(request: HttpRequest) -> int:
    """Multipart uploads may carry media up to the media cap; everything else the body cap."""
    if request.content_type == "multipart/form-data":
        return settings.WILDCAT_MAX_MEDIA_BYTES + 64 * 1024
    return settings.WILDCAT_MAX_BODY_BYTES


class BodySizeLimitMiddleware:
    """Answer 413 in the API error shape when Content-Length exceeds the limit."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            raw_length = request.META.get("CONTENT_LENGTH") or "0"
            try:
                length = int(raw_length)
            except ValueError:
                return error_response(AppError(ErrorCode.INVALID_REQUEST, "Content-Length is not a number."))
            limit = body_limit_for(request)
            if length > limit:
                message = f"The request body is larger than {limit} bytes."
                return error_response(AppError(ErrorCode.PAYLOAD_TOO_LARGE, message, {"limit": limit}))
        return self.get_response(request)
