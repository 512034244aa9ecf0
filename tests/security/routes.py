"""Every /api/v1/ route, read from the URL configuration itself, with the HTTP methods its view answers."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver

API_PREFIX = "api/v1/"
METHODS = ("get", "post", "put", "patch", "delete")
_PARAM = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")


@dataclass(frozen=True)
class Route:
    name: str
    pattern: str  # e.g. "api/v1/connections/<int:connection_id>"
    methods: tuple[str, ...]

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(match.group("name") for match in _PARAM.finditer(self.pattern))

    def path(self, values: dict[str, object]) -> str:
        missing = set(self.params) - set(values)
        if missing:
            raise KeyError(f"no value for {sorted(missing)} in {self.pattern}")
        return "/" + _PARAM.sub(lambda match: str(values[match.group("name")]), self.pattern)


def _walk(patterns, prefix: str):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def _view_methods(entry: URLPattern) -> tuple[str, ...]:
    view_class = getattr(entry.callback, "view_class", None) or getattr(entry.callback, "cls", None)
    if view_class is None:
        raise AssertionError(f"{entry.pattern}: not a class-based view, the matrix cannot tell its methods")
    allowed = getattr(view_class, "http_method_names", METHODS)
    return tuple(method for method in METHODS if method in allowed and hasattr(view_class, method))


def api_routes() -> list[Route]:
    routes = []
    for pattern, entry in _walk(get_resolver().url_patterns, ""):
        if pattern.startswith(API_PREFIX):
            if not entry.name:
                raise AssertionError(f"{pattern} has no URL name; name it so the security tests can list it")
            routes.append(Route(name=entry.name, pattern=pattern, methods=_view_methods(entry)))
    return routes


def routes_with_params() -> list[Route]:
    return [route for route in api_routes() if route.params]
