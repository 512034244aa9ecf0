"""Cursor pagination shared by every list endpoint."""

from __future__ import annotations

from django.conf import settings
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request

from wildcat.errors import invalid_request


class CreatedCursorPagination(CursorPagination):
    """Newest first by creation time, with the id as tie-breaker; stable under inserts."""

    ordering = ("-created_at", "-id")
    page_size_query_param = "page_size"

    def __init__(self) -> None:
        # Read per instance (DRF assigns page_size while paginating, and tests change the settings).
        self.page_size = settings.WILDCAT_DEFAULT_PAGE_SIZE
        self.max_page_size = settings.WILDCAT_MAX_PAGE_SIZE

    def get_page_size(self, request: Request) -> int:
        """A page_size outside 1..WILDCAT_MAX_PAGE_SIZE is a 400, not silently replaced by another size."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None or raw == "":
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if not 1 <= size <= self.max_page_size:
            raise invalid_request({self.page_size_query_param: [f"A whole number from 1 to {self.max_page_size}."]})
        return size

    def decode_cursor(self, request: Request):
        """A cursor that does not decode is the caller's mistake (400), not a missing page (404)."""
        try:
            return super().decode_cursor(request)
        except NotFound:  # DRF's own answer to a bad cursor
            raise invalid_request({self.cursor_query_param: ["Invalid cursor."]})

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {**parameter["schema"], "minimum": 1, "maximum": self.max_page_size}
        return parameters
