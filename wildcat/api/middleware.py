"""Keep unexpected exceptions under /api/ in the JSON error shape, whatever DEBUG says."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse

from wildcat.api.errors import json_403, json_404, json_500

logger = logging.getLogger("wildcat.api")


class ApiExceptionMiddleware:
    """DRF views already answer through the exception handler. This covers plain Django views under
    /api/, which would otherwise get Django's debug page (with a stack trace) when DEBUG is on."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not request.path.startswith("/api/"):
            return None
        if isinstance(exception, Http404):
            return json_404(request, exception)
        if isinstance(exception, PermissionDenied):
            return json_403(request)
        logger.error("unhandled error on %s", request.path, exc_info=exception)
        return json_500(request)
