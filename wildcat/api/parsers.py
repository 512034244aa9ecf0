"""The API's JSON parser: a request body must be one JSON object, never a bare list or scalar."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# No request needs more than a few levels (a send's nested objects are 3 deep); deeper is refused
# before any code walks it recursively (serializers, hashing, storing).
MAX_JSON_DEPTH = 32


class JsonObjectParser(JSONParser):
    """Every endpoint reads named fields, so a top-level array or scalar is a clear 400 up front."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping | None = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:  # the decoder itself recurses: thousands of "[" exhaust the stack
            raise ParseError(f"The JSON body is nested too deeply (at most {MAX_JSON_DEPTH} levels).")
        if not isinstance(data, dict):
            raise ParseError(f"The JSON body must be an object, not {_json_kind(data)}.")
        if _json_depth(data) > MAX_JSON_DEPTH:
            raise ParseError(f"The JSON body is nested too deeply (at most {MAX_JSON_DEPTH} levels).")
        return data


def _json_depth(value: Any) -> int:
    """How many arrays and objects deep a decoded value goes, walked without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        current, depth = stack.pop()
        children = current.values() if isinstance(current, dict) else current if isinstance(current, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_JSON_DEPTH:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"
