"""Every API error leaves in one shape, {"error": {"code", "message", "details"}}; HTML stays HTML."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.wildcat.error_urls import LEAKY_SECRET

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.wildcat.error_urls")]


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert LEAKY_SECRET not in response.content.decode()
    assert "Traceback" not in response.content.decode()
    return body["error"]


def test_400_validation_lists_fields(api_client):
    error = _error(
        api_client.post("/api/v1/test/echo", {"name": "far too long"}, format="json"), 400, "invalid_request"
    )
    assert "name" in error["details"]


def test_401_without_a_key():
    _error(APIClient().get("/api/v1/me"), 401, "not_authenticated")


@pytest.mark.parametrize("headers", [{}, {"HTTP_AUTHORIZATION": "Bearer nope"}, {"HTTP_X_API_KEY": "nope"}])
def test_401_names_the_headers_that_carry_a_key(headers):
    error = _error(APIClient().get("/api/v1/me", **headers), 401, "not_authenticated")
    assert "Authorization: Bearer <key>" in error["message"] and "X-API-Key" in error["message"]


def test_403(api_client):
    _error(api_client.get("/api/v1/test/fail?kind=forbidden"), 403, "permission_denied")


def test_404_for_an_unknown_api_route(api_client):
    _error(api_client.get("/api/v1/does-not-exist"), 404, "not_found")


@pytest.mark.parametrize("path", ["/api/v1/me/", "/api/v1/connections/", "/api/v1/connections/7/messages/"])
def test_a_trailing_slash_is_a_404_that_names_the_path_without_it(api_client, path):
    for response in (api_client.get(path), api_client.post(path, {}, format="json")):
        error = _error(response, 404, "not_found")
        assert error["message"].endswith(f"use {path.rstrip('/')}"), error["message"]


def test_a_slashed_path_that_does_not_exist_either_is_a_plain_404(api_client):
    assert api_client.get("/api/v1/me").status_code == 200
    error = _error(api_client.get("/api/v1/does-not-exist/"), 404, "not_found")
    assert error["message"] == "Not found."


def test_405(api_client):
    error = _error(api_client.delete("/api/v1/me"), 405, "method_not_allowed")
    assert "DELETE" in error["message"]


def test_409(api_client):
    error = _error(api_client.get("/api/v1/test/fail?kind=conflict"), 409, "conflict")
    assert error["message"] == "That name is taken."


def test_an_app_error_leaves_with_its_code_status_message_and_details(api_client):
    error = _error(api_client.get("/api/v1/test/fail?kind=app_error"), 409, "no_qr")
    assert error == {"code": "no_qr", "message": "There is no QR code to show.", "details": {"hint": "start it"}}


def test_every_error_code_has_a_status_and_only_failure_codes_default_to_500():
    from wildcat.errors import HTTP_STATUS, MESSAGE_FAILURE_CODES, AppError, ErrorCode

    unmapped = {code for code in ErrorCode if code not in HTTP_STATUS}
    assert unmapped == MESSAGE_FAILURE_CODES and ErrorCode.TOO_MANY_ATTEMPTS in unmapped
    assert AppError(ErrorCode.MEDIA_TOO_LARGE, "big").http_status == 413
    assert AppError(ErrorCode.SESSION_ERROR, "refused").http_status == 502
    assert AppError(ErrorCode.SESSION_ERROR, "refused", http_status=409).http_status == 409


def test_limit_exceeded_is_a_400_with_its_own_code(api_client):
    _error(api_client.get("/api/v1/test/fail?kind=limit"), 400, "limit_exceeded")


def test_413_by_content_length(api_client, settings):
    settings.WILDCAT_MAX_BODY_BYTES = 2048
    body = json.dumps({"name": "x" * 5000})
    error = _error(
        api_client.post("/api/v1/test/echo", body, content_type="application/json"), 413, "payload_too_large"
    )
    assert error["details"] == {"limit": 2048}
    _error(api_client.get("/api/v1/test/fail?kind=too_large"), 413, "payload_too_large")


def test_415(api_client):
    error = _error(
        api_client.post("/api/v1/test/echo", "name=x", content_type="text/csv"), 415, "unsupported_media_type"
    )
    assert "text/csv" in error["message"]


def test_429(api_client, settings):
    settings.WILDCAT_API_RATE = "1/hour"
    assert api_client.get("/api/v1/me").status_code == 200
    response = api_client.get("/api/v1/me")
    _error(response, 429, "throttled")
    assert int(response["Retry-After"]) >= 1


@pytest.mark.parametrize("debug", [False, True])
def test_500_from_a_drf_view_carries_no_stack_trace(api_client, settings, debug):
    settings.DEBUG = debug
    error = _error(api_client.get("/api/v1/test/fail"), 500, "server_error")
    assert error == {"code": "server_error", "message": "Internal server error.", "details": {}}


@pytest.mark.parametrize("debug", [False, True])
def test_500_from_a_plain_view_under_api_is_json(settings, debug):
    settings.DEBUG = debug
    client = Client(raise_request_exception=False)
    _error(client.get("/api/v1/test/plain-crash"), 500, "server_error")


def test_non_api_paths_keep_html_errors(settings):
    settings.DEBUG = False
    client = Client(raise_request_exception=False)
    crashed = client.get("/site/plain-crash")
    assert crashed.status_code == 500 and crashed["Content-Type"].startswith("text/html")
    assert LEAKY_SECRET not in crashed.content.decode()
    missing = client.get("/no-such-page")
    assert missing.status_code == 404 and missing["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    ("body", "kind"),
    [("[1, 2]", "an array"), ('"name"', "a string"), ("42", "a number"), ("null", "null"), ("true", "a boolean")],
)
def test_json_body_that_is_not_an_object_is_a_clear_400(api_client, body, kind):
    error = _error(api_client.post("/api/v1/test/echo", body, content_type="application/json"), 400, "malformed_body")
    assert error["message"].endswith(f"The JSON body must be an object, not {kind}.")


@pytest.mark.parametrize("body", ["{", "{'a': 1}", b"\xff\xfe{}", "NaN"])
def test_broken_json_is_a_400(api_client, body):
    _error(api_client.post("/api/v1/test/echo", body, content_type="application/json"), 400, "malformed_body")


def test_a_real_endpoint_uses_the_object_parser():
    from django.conf import settings

    assert settings.REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"][0] == "wildcat.api.parsers.JsonObjectParser"
    assert "rest_framework.parsers.JSONParser" not in settings.REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]


def test_open_endpoint_still_validates_the_body():
    _error(APIClient().post("/api/v1/test/open-echo", "[]", content_type="application/json"), 400, "malformed_body")


# The modules that may touch DRF's or Django's exception types: the translator itself, and the places
# where DRF's or Django's own protocol asks for them (authentication, body parsing, a paginator's
# bad cursor, and admin forms' field errors).
FRAMEWORK_ERROR_MODULES = {
    "wildcat/api/errors.py",
    "apikeys/authentication.py",
    "wildcat/api/parsers.py",
    "wildcat/api/pagination.py",
    "accounts/admin.py",
}


def test_application_code_raises_only_app_error():
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    framework = re.compile(
        r"from rest_framework(\.exceptions)? import .*\b(exceptions|NotFound|ValidationError|APIException)\b"
        r"|from django\.core\.exceptions import .*\bValidationError\b|\bapi_error\("
    )
    offenders = []
    for app in ("wildcat", "apikeys", "accounts", "messaging", "webhooks"):
        for path in sorted((root / app).rglob("*.py")):
            relative = path.relative_to(root).as_posix()
            if "/migrations/" in relative or relative in FRAMEWORK_ERROR_MODULES:
                continue
            if framework.search(path.read_text()):
                offenders.append(relative)
    assert offenders == []
