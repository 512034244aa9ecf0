"""Site-wide error pages (JSON under /api/, HTML elsewhere) and the favicon."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.templatetags.static import static
from django.views.defaults import page_not_found
from django.views.defaults import server_error as html_server_error

from wildcat.api.errors import json_404, json_500


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return json_404(request, exception)
    return page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return json_500(request)
    return html_server_error(request)


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico before reading a page's icon link; the icon is a static file."""
    # A temporary redirect: the static file's hashed name changes with each release.
    return HttpResponseRedirect(static("wildcat/favicon.svg"))
