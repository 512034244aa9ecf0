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


def test_403(api_client):
    _error(api_client.get("/api/v1/test/fail?kind=forbidden"), 403, "permission_denied")


def test_404_for_an_unknown_api_route(api_client):
    _error(api_client.get("/api/v1/does-not-exist"), 404, "not_found")


def test_405(api_client):
    error = _error(api_client.delete("/api/v1/me"), 405, "method_not_allowed")
    assert "DELETE" in error["message"]


def test_409(api_client):
    error = _error(api_client.get("/api/v1/test/fail?kind=conflict"), 409, "conflict")
    assert error["message"] == "That name is taken."


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
