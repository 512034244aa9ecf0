"""Cursor pagination shared by every list endpoint."""

from __future__ import annotations

from django.conf import settings
from rest_framework.pagination import CursorPagination


class CreatedCursorPagination(CursorPagination):
    """Newest first by creation time, with the id as tie-breaker; stable under inserts."""

    ordering = ("-created_at", "-id")
    page_size_query_param = "page_size"

    def __init__(self) -> None:
        # Read per instance (DRF assigns page_size while paginating, and tests change the settings).
        self.page_size = settings.WILDCAT_DEFAULT_PAGE_SIZE
        self.max_page_size = settings.WILDCAT_MAX_PAGE_SIZE
