"""Every API route answers its own path: the order of the apps' route lists shadows nothing."""

from __future__ import annotations

import re

from django.urls import URLPattern, URLResolver, get_resolver, resolve

SAMPLES = {"int": "7", "str": "15551234567@s.whatsapp.net", "slug": "sample", "path": "a/b"}


def _api_patterns(patterns, prefix: str = ""):
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _api_patterns(entry.url_patterns, route)
        elif isinstance(entry, URLPattern) and route.startswith("api/v1/"):
            yield route, entry


def _sample_path(route: str) -> str:
    return "/" + re.sub(r"<(?:(\w+):)?\w+>", lambda match: SAMPLES[match.group(1) or "str"], route)


def test_each_api_route_resolves_to_its_own_view():
    routes = list(_api_patterns(get_resolver().url_patterns))
    assert len(routes) > 30
    for route, pattern in routes:
        match = resolve(_sample_path(route))
        assert match.func is pattern.callback, f"{route} is answered by {match.view_name}"
